"""report.html: the one self-contained page that support opens first. No script, nothing loaded from outside.

The page is a loop over its parts in their places: its own (the title, the description, support's checklist, what
was cut) and each section's (a section module's PAGE, agent/report/sections/), as sos' plugins each say what they
collect. A new section with something to show adds its part in its own module."""

from __future__ import annotations

from agent.lang import load
from agent.report.html import CSS, Page, Part, e, heading, table, ts


def render(manifest: dict, summary: dict, sections: dict, language: str = "en", zone: str = "UTC") -> str:
    """The page: checklist and faults first, then charts, then the sections as tables; its words in LANGUAGE
    (agent/lang/), its times in ZONE with the offset (the sections' data stays in UTC)."""
    page = Page(manifest, summary, sections, load(language)["report"], language, zone)
    out: list[str] = []
    for _, part in sorted(parts(), key=lambda p: p[0]):
        out += part(page)
    return "\n".join(out)


def parts() -> list[tuple[int, Part]]:
    """Every part of the page with its place: the page's own and each section's."""
    from agent.report.sections import SECTIONS

    own: list[tuple[int, Part]] = [(0, head), (20, description), (30, checklist), (200, cuts), (999, foot)]
    return own + [(place, part) for section in SECTIONS for place, part in getattr(section, "PAGE", {}).items()]


def head(page: Page) -> list[str]:
    w = page.w
    manifest = page.manifest
    created = page.manifest["created"]
    meta = w["meta"].format(
        id=e(manifest["report_id"]),
        created=e(ts(created["wall"], page.zone)),
        trigger=e(manifest.get("trigger")),
        clock=w["clock_synced"] if created.get("clock_synced") else w["clock_not_synced"],
        priority=e(manifest.get("priority")),
        on_site=w["on_site"] if manifest.get("on_site") else "",
    )
    times = e(w["times"].format(zone=page.zone, offset=ts(created["wall"], page.zone)[-6:]))
    return [
        f"<!DOCTYPE html><html lang='{e(page.language)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(w['title'].format(id=manifest['report_id']))}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(page.summary.get('model'))} {e(page.summary.get('serial'))}: "
        f"{e(manifest.get('subject') or 'report')}</h1>",
        f"<p class='meta'>{meta} {times}</p>",
    ]


def description(page: Page) -> list[str]:
    text = page.manifest.get("description")
    return [f"<p>{e(text)}</p>"] if text else []


def checklist(page: Page) -> list[str]:
    """Support's checklist: what support asks first, answered from the summary."""
    w, summary = page.w, page.summary
    yes_no = {True: w["yes"], False: w["no"]}
    self_check = summary.get("self_check", {})
    counts = ", ".join(f"{n} {s}" for s, n in self_check.get("counts", {}).items())
    software = w["software_value"].format(
        version=summary.get("firmware_version"),
        verdict=summary.get("software_verdict"),
        latest=summary.get("latest_version") or w["unknown"],
    )
    rows = [
        (
            w["model_serial_order"],
            f"{summary.get('model')} / {summary.get('serial')} / {summary.get('order_number') or '-'}",
        ),
        (w["software"], software),
        (w["commissioning"], yes_no[bool(summary.get("commissioning_protocol"))]),
        (w["cloud_credentials"], yes_no[bool(summary.get("cloud_credentials"))]),
        (w["previous_case"], summary.get("previous_case") or "-"),
        (w["on_site_q"], yes_no[bool(summary.get("on_site"))]),
        (w["network"], summary.get("network")),
        (w["self_check"], f"{self_check.get('result')} ({counts})"),
        (w["contact"], summary.get("email") or "-"),
    ]
    return [heading(w["checklist"]), table((w["question"], w["answer"]), rows)]


def cuts(page: Page) -> list[str]:
    made = page.manifest.get("cuts", [])
    if not made:
        return []
    return ["<p class='warn'>" + e(page.w["cut"]) + e("; ".join(c["what"] for c in made)) + "</p>"]


def foot(page: Page) -> list[str]:
    return ["</body></html>"]
