"""Section software: the firmware version, its channel, the newest release and the verdict."""

NAME, ORDER = "software", 80


def collect(box, cfg):
    """The collector's facts and the judge's words for them (made with the look: watch/checks.judged)."""
    if box.verdicts is None:
        raise ValueError("the look has no verdicts: judge it first (agent.watch.checks.judged)")
    return dict(box.health["software"], **box.verdicts["software"])
