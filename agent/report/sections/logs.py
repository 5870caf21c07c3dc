"""Section logs: the agent's own newest log lines and the firmware's logs (from the firmware_logs hook),
one text member each; cut first, oldest lines first, when a report is over its size cap."""

from __future__ import annotations

import re
from pathlib import Path

from agent.clock import Window
from agent.report.html import Page, e, heading

NAME, ORDER = "logs", 110
CUT_ORDER = 1
MIN_LOG_LINES = 20  # cutting stops here; then history resolution goes
TRUNCATED = "_truncated_by_hook"  # notes for the manifest's cuts, not a member


def firmware_log_names(output: dict) -> dict[str, str]:
    """{member name: path} for every firmware log the hook could read."""
    return {f"fw-{Path(path).name}": path for path, entry in (output.get("files") or {}).items() if "lines" in entry}


def collect(box, cfg):
    logs: dict[str, list[str]] = {"agent": list(box.agent_log)}
    result = box.health["hooks"].get("firmware_logs")
    output = (result.output if result is not None and result.ok else None) or {}
    for name, path in firmware_log_names(output).items():
        entry = output["files"][path]
        logs[name] = entry["lines"]
        if entry.get("truncated"):
            logs.setdefault(TRUNCATED, []).append(
                f"{name} ({path}): newest {len(entry['lines'])} lines of {entry.get('bytes')} bytes"
            )
    return logs


def cut(logs: dict) -> str | None:
    """Halve the longest log, down to MIN_LOG_LINES."""
    name, lines = max(
        ((k, v) for k, v in logs.items() if k != TRUNCATED), key=lambda kv: len(kv[1]), default=(None, [])
    )
    if not name or len(lines) <= MIN_LOG_LINES:
        return None
    keep = max(MIN_LOG_LINES, len(lines) // 2)
    logs[name] = lines[-keep:]
    return f"log {name}: oldest {len(lines) - keep} lines dropped, newest {keep} kept"


def redact(logs: dict, redactor) -> dict:
    """Each log scrubbed as one text, so a secret that a line break cuts in two is still found."""
    return {
        name: lines if name == TRUNCATED else redactor.text("\n".join(lines), NAME).split("\n")
        for name, lines in logs.items()
    }


def members(logs: dict):
    from agent.report.bundle import Section

    return [
        Section(f"log-{name}.txt", ("\n".join(lines) + "\n").encode() if lines else b"")
        for name, lines in logs.items()
        if name != TRUNCATED
    ]


# An ISO stamp at the start of a line, with its fraction and its offset when it has them (ours end in Z).
STAMP = re.compile(r"^\[?(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[.,]\d+)?(Z|[+-]\d\d:?\d\d)?")


def stamp_time(line: str) -> float | None:
    """The Unix time LINE starts with; a stamp without an offset is read as UTC."""
    from datetime import datetime

    m = STAMP.match(line)
    if not m:
        return None
    offset = m.group(2) or "Z"
    offset = "+00:00" if offset == "Z" else offset if ":" in offset else offset[:3] + ":" + offset[3:]
    try:
        return datetime.fromisoformat(m.group(1).replace(" ", "T") + offset).timestamp()
    except ValueError:
        return None


def window(logs: dict, oldest: float | None, latest: float | None) -> dict:
    """The lines from OLDEST to LATEST by the time each line starts with (logging's and syslog-like ISO
    stamps; UTC unless the stamp names its offset); a line without one belongs to the line before it (a
    traceback, a wrapped message)."""
    out: dict = {}
    for name, lines in logs.items():
        if name == TRUNCATED:
            out[name] = lines
            continue
        keep = []
        inside = True
        span = Window(oldest, latest)
        for line in lines:
            t = stamp_time(line)
            if t is not None:
                inside = t in span
            if inside:
                keep.append(line)
        out[name] = keep
    return out


LOG_TAIL = 30  # lines of each log shown on the page (the whole log is a member of the bundle)


def tails(page: Page) -> list[str]:
    out = [heading(page.w["logs"].format(n=LOG_TAIL))]
    for name, lines in page.data("logs").items():
        if isinstance(lines, list) and lines:
            out.append(f"<h3>{e(name)}</h3><pre>{e(chr(10).join(str(x) for x in lines[-LOG_TAIL:]))}</pre>")
    return out if len(out) > 1 else []


PAGE = {100: tails}  # its part of report.html, by its place on the page
