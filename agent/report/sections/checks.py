"""Section checks: the self-check list, pass / warn / fail with a hint each, as the installer sees it, and where
the fault is (watch/judge/locate.py)."""

NAME, ORDER = "checks", 50


def collect(box, cfg):
    """The judge's verdicts made with the look (watch/checks.py judged()): the report never judges again."""
    if box.checks is None:
        raise ValueError("the look has no verdicts: judge it first (agent.watch.checks.judged)")
    return dict(box.checks, where=(box.verdicts or {}).get("where", []))
