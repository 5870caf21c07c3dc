"""Section faults: the active faults and the event timeline (raised, cleared, firmware events)."""

NAME, ORDER = "faults", 30


def collect(box, cfg):
    return {"active": box.faults, "timeline": box.timeline}


def window(faults: dict, oldest: float | None, latest: float | None) -> dict:
    """The events from OLDEST to LATEST; the faults active now stay (they are what the box is in)."""
    inside = lambda t: (oldest is None or t >= oldest) and (latest is None or t <= latest)  # noqa: E731
    return {"active": faults["active"], "timeline": [e for e in faults["timeline"] if inside(e.get("wall", 0))]}
