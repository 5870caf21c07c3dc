"""Events the firmware announces (`diag-agent event ...`): checked, and queued on disk while the daemon is down."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from agent.fields import EVENT_CODE as CODE
from agent.fields import EVENT_CODE_WORDS as CODE_WORDS
from agent.fields import FAULT_MESSAGE_CHARS as MESSAGE_CHARS
from agent.fields import FIRMWARE_VERSION_CHARS as VERSION_CHARS
from agent.paths import state_path
from agent.storage import read_bytes, set_aside, write_json
from agent.vocab import FaultCategory, Severity
from agent.watch.faults import FaultMonitor
from agent.watch.timeline import Timeline

log = logging.getLogger(__name__)


def _time(value: object) -> float:
    """When the firmware says the event happened (seconds since 1970), else now; ValueError for what is not a
    plain finite time."""
    if value is None or value == 0:
        return time.time()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e11:
        raise ValueError("time: expected seconds since 1970")
    return float(value)


def check_event(args: dict) -> dict:
    """A clean event from untrusted fields; ValueError says which field is wrong."""
    kind = args.get("type")
    if kind not in ("fault", "clear", "updated"):
        raise ValueError("type: expected fault, clear or updated")
    event: dict = {"type": kind, "time": _time(args.get("time"))}
    if kind in ("fault", "clear"):
        code = args.get("code")
        if not isinstance(code, str) or not CODE.match(code):
            raise ValueError(f"code: expected {CODE_WORDS}")
        event["code"] = code
    if kind == "fault":
        message, severity, category = (
            args.get("message"),
            args.get("severity", "error"),
            args.get("category", "hardware"),
        )
        if not isinstance(message, str) or not MESSAGE_CHARS[0] <= len(message.strip()) <= MESSAGE_CHARS[1]:
            raise ValueError("message: expected {}-{} characters".format(*MESSAGE_CHARS))
        if severity not in tuple(Severity):
            raise ValueError(f"severity: expected one of {', '.join(Severity)}")
        if category not in tuple(FaultCategory):
            raise ValueError(f"category: expected one of {', '.join(FaultCategory)}")
        event.update(message=message.strip(), severity=severity, category=category)
    if kind == "updated":
        version = args.get("version")
        if not isinstance(version, str) or not VERSION_CHARS[0] <= len(version.strip()) <= VERSION_CHARS[1]:
            raise ValueError("version: expected {}-{} characters".format(*VERSION_CHARS))
        event["version"] = version.strip()
    return event


def queue_dir(state_dir: str) -> Path:
    return state_path(state_dir, "events")


def queue_event(state_dir: str, event: dict) -> Path:
    """Write EVENT for the daemon to take in at its next start (atomic: temporary name, fsync, rename)."""
    folder = queue_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns():020d}-{os.getpid()}.json"
    write_json(path, event, durable=True)
    return path


def take_queued(state_dir: str) -> list[dict]:
    """The queued events in the order they were announced; each file is removed once read."""
    folder = queue_dir(state_dir)
    events = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            event = json.loads(read_bytes(path))
            events.append(check_event(event if isinstance(event, dict) else {"type": None}))
            path.unlink(missing_ok=True)
        except (OSError, ValueError, RecursionError) as exc:  # kept aside: it cannot end a start again and again
            set_aside(path, f"is not an event the agent can take ({exc})")
    return events


class FirmwareEvents:
    """The event sink: a firmware fault is raised or cleared; an update is noted and looked at now."""

    def __init__(
        self,
        faults: FaultMonitor,
        timeline: Timeline,
        on_update: Callable[[], None],
        security: Callable[[str, str], None] = lambda kind, message: None,
    ):
        self.faults = faults
        self.timeline = timeline
        self.on_update = on_update
        self.security = security

    def apply(self, event: dict) -> None:
        if event["type"] == "fault":
            self.faults.firmware_fault(event["code"], event["message"], event["severity"], event["category"])
        elif event["type"] == "clear":
            if not self.faults.firmware_clear(event["code"]):
                self.timeline.add("event", event["code"], "the firmware cleared a fault that was not active")
        else:
            self.timeline.add("event", "firmware_updated", f"firmware updated to {event['version']}")
            log.info("firmware announced an update to %s", event["version"])
            self.security("firmware_updated", f"firmware updated to {event['version']}")
            self.on_update()
