"""Section faults: the active faults and the event timeline (raised, cleared, firmware events)."""

from __future__ import annotations

from agent.clock import Window
from agent.report.html import Page, e, event_time, heading, table, ts

NAME, ORDER = "faults", 30


def collect(box, cfg):
    return {"active": box.faults, "timeline": box.timeline}


def window(faults: dict, oldest: float | None, latest: float | None) -> dict:
    """The events from OLDEST to LATEST; the faults active now stay (they are what the box is in)."""
    inside = Window(oldest, latest)
    return {"active": faults["active"], "timeline": [e for e in faults["timeline"] if e.get("wall", 0) in inside]}


def active(page: Page) -> list[str]:
    w, zone = page.w, page.zone
    faults = page.data("faults").get("active", [])
    if not faults:
        return [heading(w["active_faults"]), f"<p class='pass'>{e(w['none'])}</p>"]
    rows = [
        (ts(f["since_wall"], zone), f["code"], f["severity"], f["category"], f["device"], f["message"]) for f in faults
    ]
    headers = (w["since"], w["code"], w["severity"], w["category"], w["where"], w["message"])
    return [heading(w["active_faults"]), table(headers, rows, [f["severity"] for f in faults])]


def timeline(page: Page) -> list[str]:
    w = page.w
    events = page.data("faults").get("timeline", [])
    if not events:
        return [heading(w["timeline"]), f"<p>{e(w['no_events'])}</p>"]
    rows = [
        (
            event_time(x, w, page.zone),
            x["kind"] + (f" ({w['before_restart']})" if x.get("earlier_run") else ""),
            x["code"],
            x.get("device") or "",
            x["message"],
        )
        for x in reversed(events)
    ]
    return [heading(w["timeline"]), table((w["time"], w["event"], w["code"], w["where"], w["message"]), rows)]


PAGE = {35: active, 80: timeline}  # its parts of report.html, by their place on the page
