"""Section faults: the active faults and the event timeline (raised, cleared, firmware events)."""

NAME, ORDER = "faults", 30


def collect(box, cfg):
    return {"active": box.faults, "timeline": box.timeline}
