"""Section system: load, memory, disk, temperatures, uptime, boots, clock state, top processes."""

from __future__ import annotations

from agent.report.html import Page, dig, heading, hours, shown, table

NAME, ORDER = "system", 60


def collect(box, cfg):
    return box.health["system"]


FIGURES = (  # the page's label and where the figure is in the section
    ("load", ("load_average",)),
    ("memory", ("memory", "used_percent")),
    ("disk", ("disk", "used_percent")),
    ("soc", ("soc_temperature_c",)),
    ("clock", ("clock_synced",)),
)


def figures(page: Page) -> list[str]:
    w = page.w
    rows = [(w[label], shown(dig(page.sections, "system", *keys), w)) for label, keys in FIGURES]
    rows.append((w["uptime"], hours(dig(page.sections, "system", "uptime_s"), w)))
    return [heading(w["system"]), table(("", ""), rows)]


PAGE = {130: figures}  # its part of report.html, by its place on the page
