"""Section readings: every device's current values with units and ages, and whether it answers."""

from __future__ import annotations

from agent.report.html import Page, heading, table

NAME, ORDER = "readings", 10


def collect(box, cfg):
    return box.readings


def values(page: Page) -> list[str]:
    w, readings = page.w, page.data("readings")
    rows = [
        (dev, n, v["value"], v.get("unit", ""), v.get("label", ""), v.get("age_s"))
        for dev, d in readings.items()
        for n, v in d.get("values", {}).items()
    ]
    rows += [
        (dev, n, "-", "", why, "") for dev, d in readings.items() for n, why in (d.get("unsupported") or {}).items()
    ]
    headers = (w["device"], w["value"], w["reading"], w["unit"], w["meaning"], w["age"])
    return [heading(w["readings"]), table(headers, rows)]


PAGE = {60: values}  # its part of report.html, by its place on the page
