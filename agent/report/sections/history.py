"""Section history: every polled value over the history window (min/mean/max buckets) and the last hour
at full rate, as compact number columns; its resolution is cut after the logs.

The data is the poller's history frozen for this report (agent/devices/history.Frozen), encoded series by
series straight into the bundle: a day at 1 Hz never exists as Python lists all at once."""

from __future__ import annotations

from agent.clock import Window
from agent.report.html import Page, heading

NAME, ORDER = "history", 20
CUT_ORDER = 2
MIN_BUCKETS = 48
THIN_ABOVE = 60  # raw samples per series before thinning is worth it
MEMBER = "history.json.xz"  # xz, not the bundle's gzip: agent/report/bundle.py XZ_PRESET says why


def collect(box, cfg):
    return box.history


def cut(history) -> str | None:
    """First thin the last hour's raw samples, then halve the bucket resolution."""
    if not history:
        return None
    most_raw, most_buckets = history.counts()
    if most_raw > THIN_ABOVE:
        history.thin += 1
        return "history: raw samples of the last hour thinned to every second one"
    if most_buckets > MIN_BUCKETS:
        history.merge += 1
        return "history: bucket resolution halved"
    return None


def redact(history, redactor):
    return history  # numbers under the configuration's device and value names: nothing to scrub


def members(history):
    from agent.report.bundle import Section, xz

    return [Section(MEMBER, write=xz(history.write_json if history else lambda f: f.write(b"{}\n")))]


def window(history, oldest: float | None, latest: float | None):
    """Only the buckets and samples from OLDEST to LATEST (an OCPP log request's time window)."""
    if history:
        history.inside = Window(oldest, latest).__contains__
    return history


def read(members: dict[str, bytes]) -> dict:
    """The history of a bundle's MEMBERS (agent/report/bundle.read_bundle), or of an older one's history.json."""
    import json

    from agent.report.bundle import unxz

    if MEMBER in members:
        return json.loads(unxz(members[MEMBER]))
    return json.loads(members.get("history.json", b"{}"))


def charts(page: Page) -> list[str]:
    """The history as charts, with the faults' events marked; a state's values by their IEC letters."""
    from agent.report.charts import CHARTS, chart, chart_lines, letters_of

    w = page.w
    history = page.sections.get("history", {})
    readings = page.data("readings")
    events = page.data("faults").get("timeline", [])
    out = [heading(w["charts"])]
    for title, unit, names, step in CHARTS:
        device, lines = chart_lines(history, names, step)
        letters = letters_of(readings, device) if step else None
        out.append(chart(w["chart_titles"].get(title, title), unit, lines, events, step, page.zone, letters))
    return out


PAGE = {50: charts}  # its part of report.html, by its place on the page
