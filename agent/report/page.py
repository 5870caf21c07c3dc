"""report.html: the one self-contained page that support opens first. No script, nothing loaded from outside."""

from __future__ import annotations

from collections.abc import Iterable

from agent.lang import load
from agent.report.charts import CHARTS, _e, _ts, chart, chart_lines, letters_of

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;max-width:960px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:4px 0}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.pass{color:#187a2f}.warn{color:#a66300}
.fail,.critical,.error{color:#b00020;font-weight:bold}.meta{color:#555}svg{display:block;margin:4px 0}
.chart text{font-size:11px}.chart .axis{fill:#444}.fault line{stroke:#b00020;stroke-dasharray:3 3}
svg.chart{width:100%;height:auto;max-width:900px}td,th{overflow-wrap:anywhere}
.where{border:2px solid #b00020;border-radius:6px;padding:8px 12px;margin:10px 0}.where.none{border-color:#187a2f}
pre{background:#f6f6f6;padding:6px;overflow-x:auto;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
@media (max-width:600px){body{margin:8px}h1{font-size:17px}}
"""
LOG_TAIL = 30  # lines of each log shown on the page (the whole log is a member of the bundle)


def _dig(data, *keys):
    """DATA[k1][k2]..., or None where a level is missing or is not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _shown(value, w: dict):
    return w["not_read"] if value is None else value


def _yes(value, w: dict) -> str:
    return w["yes"] if value is True else w["NO"] if value is False else w["not_read"]


def _event_time(event: dict, w: dict, zone: str) -> str:
    """When EVENT happened; "clock not set yet" where its stamp is a box's time before NTP, not put right."""
    unset = event.get("clock_set") is False and not event.get("corrected")
    return _ts(event["wall"], zone) + (f" ({w['clock_not_set']})" if unset else "")


def _hours(seconds, w: dict) -> str:
    """A duration in hours, or the word for a value no collector could read."""
    return f"{seconds / 3600:.1f}" if isinstance(seconds, (int, float)) else w["not_read"]


def _table(headers: Iterable[str], rows: Iterable[Iterable], classes: Iterable[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = list(classes)[i] if classes is not None else ""
        body.append(f"<tr class='{_e(cls)}'>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _where(findings: list[dict], language: str) -> str:
    """Where the fault is (watch/explain.py), at the top: support reads the box's verdict first."""
    from agent.watch.explain import where_of

    words = load(language)["page"]
    found = where_of(findings, words)
    items = "".join(f"<li>{_e(e)}</li>" for e in found["evidence"])
    return (
        f"<div class='where{'' if found['place'] else ' none'}'><b>{_e(words['where_title'])}:</b> "
        f"{_e(found['sentence'])}"
        + (f"<ul>{items}</ul>" if items else "")
        + (f"<p>{_e(words['next_step'])} {_e(found['next'])}</p>" if found["next"] else "")
        + (f"<p class='meta'>{_e(found['also'])}</p>" if found["also"] else "")
        + "</div>"
    )


def _log_tails(logs: dict, w: dict) -> list[str]:
    out = [f"<h2>{_e(w['logs'].format(n=LOG_TAIL))}</h2>"]
    for name, lines in (logs or {}).items():
        if isinstance(lines, list) and lines:
            out.append(f"<h3>{_e(name)}</h3><pre>{_e(chr(10).join(str(x) for x in lines[-LOG_TAIL:]))}</pre>")
    return out if len(out) > 1 else []


def _recorder(recorded: dict, w: dict, zone: str) -> list[str]:
    """The flight recorder: how the last run ended, history from before the restart, fault windows on disk."""
    if not recorded:
        return []
    out = [f"<h2>{_e(w['recorder'])}</h2>"]
    stop = recorded.get("last_stop")
    if stop:
        seen = _ts(stop["last_sign_of_life"], zone) if stop.get("last_sign_of_life") else "-"
        out.append(
            f"<p class='{'pass' if stop['kind'] == 'orderly' else 'warn'}'>"
            f"{_e(w['last_stop'].format(words=stop['words'], at=seen))}</p>"
        )
    if recorded.get("earlier_history_until"):
        out.append(f"<p>{_e(w['earlier_history'].format(at=_ts(recorded['earlier_history_until'], zone)))}</p>")
    rows = [
        (
            _ts(x["raised"], zone),
            x["code"],
            x.get("device") or "",
            f"-{x['before_s']:.0f} s .. +{x['after_s']:.0f} s"
            + ("" if x.get("complete") else f" ({w['incomplete']})")
            + (f" ({w['before_restart']})" if x.get("earlier_run") else ""),
            f"fault-window-{i + 1}.json",
        )
        for i, x in enumerate(recorded.get("windows") or [])
    ]
    out.append(
        _table((w["time"], w["code"], w["where"], w["window"], w["member"]), rows)
        if rows
        else f"<p>{_e(w['no_windows'])}</p>"
    )
    return out


def render(manifest: dict, summary: dict, sections: dict, language: str = "en", zone: str = "UTC") -> str:
    """The page: checklist and faults first, then charts, then the sections as tables; its words in LANGUAGE
    (agent/lang/), its times in ZONE with the offset (the sections' data stays in UTC)."""
    w = load(language)["report"]
    yes_no = {True: w["yes"], False: w["no"]}
    faults = sections.get("faults", {})
    events = faults.get("timeline", [])
    checks = sections.get("checks", {}).get("checks", [])
    created = manifest["created"]
    out = [
        f"<!DOCTYPE html><html lang='{_e(language)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(w['title'].format(id=manifest['report_id']))}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(summary.get('model'))} {_e(summary.get('serial'))}: {_e(manifest.get('subject') or 'report')}</h1>",
        "<p class='meta'>"
        + w["meta"].format(
            id=_e(manifest["report_id"]),
            created=_e(_ts(created["wall"], zone)),
            trigger=_e(manifest.get("trigger")),
            clock=w["clock_synced"] if created.get("clock_synced") else w["clock_not_synced"],
            priority=_e(manifest.get("priority")),
            on_site=w["on_site"] if manifest.get("on_site") else "",
        )
        + " "
        + _e(w["times"].format(zone=zone, offset=_ts(created["wall"], zone)[-6:]))
        + "</p>",
    ]
    out.append(_where(sections.get("checks", {}).get("where", []), language))
    if manifest.get("description"):
        out.append(f"<p>{_e(manifest['description'])}</p>")
    out.append(f"<h2>{_e(w['checklist'])}</h2>")
    out.append(
        _table(
            (w["question"], w["answer"]),
            [
                (
                    w["model_serial_order"],
                    f"{summary.get('model')} / {summary.get('serial')} / {summary.get('order_number') or '-'}",
                ),
                (
                    w["software"],
                    w["software_value"].format(
                        version=summary.get("firmware_version"),
                        verdict=summary.get("software_verdict"),
                        latest=summary.get("latest_version") or w["unknown"],
                    ),
                ),
                (w["commissioning"], yes_no[bool(summary.get("commissioning_protocol"))]),
                (w["cloud_credentials"], yes_no[bool(summary.get("cloud_credentials"))]),
                (w["previous_case"], summary.get("previous_case") or "-"),
                (w["on_site_q"], yes_no[bool(summary.get("on_site"))]),
                (w["network"], summary.get("network")),
                (
                    w["self_check"],
                    f"{summary.get('self_check', {}).get('result')} "
                    f"({', '.join(f'{n} {s}' for s, n in summary.get('self_check', {}).get('counts', {}).items())})",
                ),
                (w["contact"], summary.get("email") or "-"),
            ],
        )
    )
    out.append(f"<h2>{_e(w['active_faults'])}</h2>")
    active = faults.get("active", [])
    out.append(
        _table(
            (w["since"], w["code"], w["severity"], w["category"], w["where"], w["message"]),
            [
                (_ts(f["since_wall"], zone), f["code"], f["severity"], f["category"], f["device"], f["message"])
                for f in active
            ],
            [f["severity"] for f in active],
        )
        if active
        else f"<p class='pass'>{_e(w['none'])}</p>"
    )
    failing = [c for c in checks if c["status"] != "pass"]
    if failing:
        out.append(f"<h2>{_e(w['failing'])}</h2>")
        out.append(
            _table(
                ("", w["check"], w["detail"], w["hint"]),
                [(c["status"].upper(), c["title"], c["detail"], c["hint"]) for c in failing],
                [c["status"] for c in failing],
            )
        )
    out.append(f"<h2>{_e(w['charts'])}</h2>")
    history = sections.get("history", {})
    readings = sections.get("readings", {})
    for title, unit, names, step in CHARTS:
        device, lines = chart_lines(history, names, step)
        letters = letters_of(readings, device) if step else None
        out.append(chart(w["chart_titles"].get(title, title), unit, lines, events, step, zone, letters))
    out.append(f"<h2>{_e(w['readings'])}</h2>")
    rows = [
        (dev, n, v["value"], v.get("unit", ""), v.get("label", ""), v.get("age_s"))
        for dev, d in sections.get("readings", {}).items()
        for n, v in d.get("values", {}).items()
    ]
    rows += [
        (dev, n, "-", "", why, "")
        for dev, d in sections.get("readings", {}).items()
        for n, why in (d.get("unsupported") or {}).items()
    ]
    out.append(_table((w["device"], w["value"], w["reading"], w["unit"], w["meaning"], w["age"]), rows))
    out.append(f"<h2>{_e(w['timeline'])}</h2>")
    out.append(
        _table(
            (w["time"], w["event"], w["code"], w["where"], w["message"]),
            [
                (
                    _event_time(e, w, zone),
                    e["kind"] + (f" ({w['before_restart']})" if e.get("earlier_run") else ""),
                    e["code"],
                    e.get("device") or "",
                    e["message"],
                )
                for e in reversed(events)
            ],
        )
        if events
        else f"<p>{_e(w['no_events'])}</p>"
    )
    out += _recorder(sections.get("recorder") or {}, w, zone)
    out += _log_tails(sections.get("logs") or {}, w)
    out.append(f"<h2>{_e(w['all_checks'])}</h2>")
    out.append(
        _table(
            ("", w["check"], w["detail"]),
            [(c["status"].upper(), c["title"], c["detail"]) for c in checks],
            [c["status"] for c in checks],
        )
    )
    # What the collectors gave: any value may be missing (a probe failed); it shows as "not read".
    out.append(f"<h2>{_e(w['network'])}</h2>")
    out.append(
        _table(
            (w["step"], w["ok"], w["detail"]),
            [
                (k, _yes(_dig(v, "ok"), w), _shown(_dig(v, "detail"), w))
                for k, v in (_dig(sections, "network", "steps") or {}).items()
            ],
        )
    )
    out.append(f"<h2>{_e(w['system'])}</h2>")
    out.append(
        _table(
            ("", ""),
            [
                (w[label], _shown(_dig(sections, "system", *keys), w))
                for label, keys in (
                    ("load", ("load_average",)),
                    ("memory", ("memory", "used_percent")),
                    ("disk", ("disk", "used_percent")),
                    ("soc", ("soc_temperature_c",)),
                    ("clock", ("clock_synced",)),
                )
            ]
            + [(w["uptime"], _hours(_dig(sections, "system", "uptime_s"), w))],
        )
    )
    out.append(f"<h2>{_e(w['hooks'])}</h2>")
    out.append(
        _table(
            (w["hook"], w["ok"], w["error"], w["seconds"]),
            [
                (n, _yes(_dig(h, "ok"), w), _dig(h, "error") or "", _shown(_dig(h, "duration_s"), w))
                for n, h in (_dig(sections, "hooks") or {}).items()
            ],
        )
    )
    cuts = manifest.get("cuts", [])
    if cuts:
        out.append("<p class='warn'>" + _e(w["cut"]) + _e("; ".join(c["what"] for c in cuts)) + "</p>")
    out.append("</body></html>")
    return "\n".join(out)
