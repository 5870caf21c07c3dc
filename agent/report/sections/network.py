"""Section network: link, address, gateway, DNS, backend and broker, step by step, and the verdict."""

from __future__ import annotations

from agent.report.html import Page, dig, heading, shown, table, yes

NAME, ORDER = "network", 70


def collect(box, cfg):
    """The collector's facts and the judge's words for them (made with the look: watch/checks.judged)."""
    if box.verdicts is None:
        raise ValueError("the look has no verdicts: judge it first (agent.watch.checks.judged)")
    return dict(box.health["network"], **box.verdicts["network"])


def steps(page: Page) -> list[str]:
    """What the collectors gave: any value may be missing (a probe failed); it shows as "not read"."""
    w = page.w
    rows = [
        (k, yes(dig(v, "ok"), w), shown(dig(v, "detail"), w))
        for k, v in (dig(page.sections, "network", "steps") or {}).items()
    ]
    return [heading(w["network"]), table((w["step"], w["ok"], w["detail"]), rows)]


PAGE = {120: steps}  # its part of report.html, by its place on the page
