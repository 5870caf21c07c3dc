"""Section faults: the active faults and the event timeline (raised, cleared, firmware events)."""

from __future__ import annotations

from agent.clock import Window

NAME, ORDER = "faults", 30


def collect(box, cfg):
    return {"active": box.faults, "timeline": box.timeline}


def window(faults: dict, oldest: float | None, latest: float | None) -> dict:
    """The events from OLDEST to LATEST; the faults active now stay (they are what the box is in)."""
    inside = Window(oldest, latest)
    return {"active": faults["active"], "timeline": [e for e in faults["timeline"] if e.get("wall", 0) in inside]}
