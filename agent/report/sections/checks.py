"""Section checks: the self-check list, pass / warn / fail with a hint each, as the installer sees it, and where
the fault is (watch/judge/locate.py)."""

from __future__ import annotations

from agent.report.html import Page, e, heading, table

NAME, ORDER = "checks", 50


def collect(box, cfg):
    """The judge's verdicts made with the look (watch/checks.py judged()): the report never judges again."""
    if box.checks is None:
        raise ValueError("the look has no verdicts: judge it first (agent.watch.checks.judged)")
    return dict(box.checks, where=(box.verdicts or {}).get("where", []))


def where(page: Page) -> list[str]:
    """Where the fault is (watch/explain.py), at the top: support reads the box's verdict first."""
    from agent.lang import load
    from agent.watch.explain import where_of

    words = load(page.language)["page"]
    found = where_of(page.data("checks").get("where", []), words)
    items = "".join(f"<li>{e(x)}</li>" for x in found["evidence"])
    return [
        f"<div class='where{'' if found['place'] else ' none'}'><b>{e(words['where_title'])}:</b> "
        f"{e(found['sentence'])}"
        + (f"<ul>{items}</ul>" if items else "")
        + (f"<p>{e(words['next_step'])} {e(found['next'])}</p>" if found["next"] else "")
        + (f"<p class='meta'>{e(found['also'])}</p>" if found["also"] else "")
        + "</div>"
    ]


def failing(page: Page) -> list[str]:
    w = page.w
    bad = [c for c in page.data("checks").get("checks", []) if c["status"] != "pass"]
    if not bad:
        return []
    rows = [(c["status"].upper(), c["title"], c["detail"], c["hint"]) for c in bad]
    return [heading(w["failing"]), table(("", w["check"], w["detail"], w["hint"]), rows, [c["status"] for c in bad])]


def all_checks(page: Page) -> list[str]:
    w, checks = page.w, page.data("checks").get("checks", [])
    rows = [(c["status"].upper(), c["title"], c["detail"]) for c in checks]
    return [heading(w["all_checks"]), table(("", w["check"], w["detail"]), rows, [c["status"] for c in checks])]


PAGE = {10: where, 40: failing, 110: all_checks}  # its parts of report.html, by their place on the page
