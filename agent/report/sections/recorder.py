"""Section recorder: the flight recorder's evidence (agent/recorder/flight.py): how the agent's last run
ended, from when the history comes from before the restart, and each fault window on disk as a member of
its own (fault-window-N.json: the full-rate readings around the fault), oldest first. The oldest
windows go when the report is over its size cap, after the history's resolution."""

from __future__ import annotations

from agent.clock import Window
from agent.report.html import Page, e, heading, table, ts

NAME, ORDER = "recorder", 35
CUT_ORDER = 3
FIELDS = ("code", "device", "severity", "message", "raised", "before_s", "after_s", "complete", "earlier_run")


def collect(box, cfg):
    return box.recorder


def cut(recorded: dict) -> str | None:
    windows = recorded.get("windows") or []
    if not windows:
        return None
    gone = windows.pop(0)
    recorded["windows_cut"] = recorded.get("windows_cut", 0) + 1
    return f"recorder: the fault window of {gone['code']} at {gone['raised']:.0f} left out"


def window(recorded: dict, oldest: float | None, latest: float | None) -> dict:
    inside = Window(oldest, latest)
    return dict(recorded, windows=[w for w in recorded.get("windows") or [] if w["raised"] in inside])


def redact(recorded: dict, redactor) -> dict:
    """The words are scrubbed; the readings are numbers under the configuration's names."""
    out = dict(
        recorded,
        windows=[dict(w, message=redactor.text(w.get("message") or "", NAME)) for w in recorded.get("windows") or []],
    )
    if out.get("last_stop"):
        out["last_stop"] = redactor.data(out["last_stop"], NAME)
    return out


def members(recorded: dict):
    from agent.report.bundle import Section, to_json

    if not recorded:
        return []
    windows = recorded.get("windows") or []
    listed = [dict({k: w.get(k) for k in FIELDS}, member=f"fault-window-{i + 1}.json") for i, w in enumerate(windows)]
    summary = {k: v for k, v in recorded.items() if k != "windows"}
    return [Section("recorder.json", to_json(dict(summary, windows=listed)))] + [
        Section(entry["member"], write=_gunzip_into(w["path"])) for entry, w in zip(listed, windows, strict=True)
    ]


def _gunzip_into(path: str):
    def write(f) -> None:
        import gzip
        import shutil

        try:
            with gzip.open(path, "rb") as src:
                shutil.copyfileobj(src, f, 64 * 1024)
        except (OSError, EOFError) as exc:  # gone under the quota meanwhile, or damaged: say so in its place
            f.write(b'{"error": "%s"}\n' % str(exc).replace('"', "'").encode())

    return write


def flight(page: Page) -> list[str]:
    """The flight recorder: how the last run ended, history from before the restart, fault windows on disk."""
    recorded = page.data("recorder")
    w = page.w
    zone = page.zone
    if not recorded:
        return []
    out = [heading(w["recorder"])]
    stop = recorded.get("last_stop")
    if stop:
        seen = ts(stop["last_sign_of_life"], zone) if stop.get("last_sign_of_life") else "-"
        out.append(
            f"<p class='{'pass' if stop['kind'] == 'orderly' else 'warn'}'>"
            f"{e(w['last_stop'].format(words=stop['words'], at=seen))}</p>"
        )
    if recorded.get("earlier_history_until"):
        out.append(f"<p>{e(w['earlier_history'].format(at=ts(recorded['earlier_history_until'], zone)))}</p>")
    rows = [
        (
            ts(x["raised"], zone),
            x["code"],
            x.get("device") or "",
            f"-{x['before_s']:.0f} s .. +{x['after_s']:.0f} s"
            + ("" if x.get("complete") else f" ({w['incomplete']})")
            + (f" ({w['before_restart']})" if x.get("earlier_run") else ""),
            f"fault-window-{i + 1}.json",
        )
        for i, x in enumerate(recorded.get("windows") or [])
    ]
    headers = (w["time"], w["code"], w["where"], w["window"], w["member"])
    out.append(table(headers, rows) if rows else f"<p>{e(w['no_windows'])}</p>")
    return out


PAGE = {90: flight}  # its part of report.html, by its place on the page
