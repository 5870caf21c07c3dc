"""The pieces report.html is written with: its style, escaping, times, tables, and Page, what every part of the
page reads (the manifest, the summary, the sections, the reader's words and zone). Each section renders its own
part (a section module's PAGE: {place on the page: function}); report/page.py puts the parts in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.report.charts import _e as e
from agent.report.charts import _ts as ts

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;max-width:960px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:4px 0}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.pass{color:#187a2f}.warn{color:#a66300}
.fail,.critical,.error{color:#b00020;font-weight:bold}.meta{color:#555}svg{display:block;margin:4px 0}
.chart text{font-size:11px}.chart .axis{fill:#444}.fault line{stroke:#b00020;stroke-dasharray:3 3}
svg.chart{width:100%;height:auto;max-width:900px}td,th{overflow-wrap:anywhere}
.where{border:2px solid #b00020;border-radius:6px;padding:8px 12px;margin:10px 0}.where.none{border-color:#187a2f}
pre{background:#f6f6f6;padding:6px;overflow-x:auto;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
@media (max-width:600px){body{margin:8px}h1{font-size:17px}}
"""

__all__ = ["CSS", "Page", "Part", "dig", "e", "event_time", "heading", "hours", "shown", "table", "ts", "yes"]


@dataclass(frozen=True)
class Page:
    """What a part of report.html reads: the bundle's manifest and summary, every section's data, the reader's
    words (agent/lang: report), language and time zone."""

    manifest: dict
    summary: dict
    sections: dict
    w: dict
    language: str
    zone: str

    def data(self, name: str) -> dict:
        """Section NAME's data, or {} where the report has none (cut, failed, not asked for)."""
        return self.sections.get(name) or {}


Part = Callable[[Page], list[str]]  # a part of the page: its HTML fragments, in order


def dig(data, *keys):
    """DATA[k1][k2]..., or None where a level is missing or is not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def shown(value, w: dict):
    return w["not_read"] if value is None else value


def yes(value, w: dict) -> str:
    return w["yes"] if value is True else w["NO"] if value is False else w["not_read"]


def hours(seconds, w: dict) -> str:
    """A duration in hours, or the word for a value no collector could read."""
    return f"{seconds / 3600:.1f}" if isinstance(seconds, (int, float)) else w["not_read"]


def event_time(event: dict, w: dict, zone: str) -> str:
    """When EVENT happened; "clock not set yet" where its stamp is a box's time before NTP, not put right."""
    unset = event.get("clock_set") is False and not event.get("corrected")
    return ts(event["wall"], zone) + (f" ({w['clock_not_set']})" if unset else "")


def heading(text: str) -> str:
    return f"<h2>{e(text)}</h2>"


def table(headers: Iterable[str], rows: Iterable[Iterable], classes: Iterable[str] | None = None) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = list(classes)[i] if classes is not None else ""
        body.append(f"<tr class='{e(cls)}'>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
