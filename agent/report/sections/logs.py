"""Section logs: the agent's own newest log lines and the firmware's logs (from the firmware_logs hook),
one text member each; cut first, oldest lines first, when a report is over its size cap."""

from __future__ import annotations

from pathlib import Path

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
                f"{name} ({path}): newest {len(entry['lines'])} lines of {entry.get('bytes')} bytes")
    return logs


def cut(logs: dict) -> str | None:
    """Halve the longest log, down to MIN_LOG_LINES."""
    name, lines = max(((k, v) for k, v in logs.items() if k != TRUNCATED), key=lambda kv: len(kv[1]),
                      default=(None, []))
    if not name or len(lines) <= MIN_LOG_LINES:
        return None
    keep = max(MIN_LOG_LINES, len(lines) // 2)
    logs[name] = lines[-keep:]
    return f"log {name}: oldest {len(lines) - keep} lines dropped, newest {keep} kept"


def redact(logs: dict, redactor) -> dict:
    """Each log scrubbed as one text, so a secret that a line break cuts in two is still found."""
    return {name: lines if name == TRUNCATED else redactor.text("\n".join(lines), NAME).split("\n")
            for name, lines in logs.items()}


def members(logs: dict):
    from agent.report.bundle import Section

    return [Section(f"log-{name}.txt", ("\n".join(lines) + "\n").encode() if lines else b"")
            for name, lines in logs.items() if name != TRUNCATED]
