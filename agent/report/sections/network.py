"""Section network: link, address, gateway, DNS, backend and broker, step by step, and the verdict."""

NAME, ORDER = "network", 70


def collect(box, cfg):
    """The collector's facts and the judge's words for them (made with the look: watch/checks.judged)."""
    if box.verdicts is None:
        raise ValueError("the look has no verdicts: judge it first (agent.watch.checks.judged)")
    return dict(box.health["network"], **box.verdicts["network"])
