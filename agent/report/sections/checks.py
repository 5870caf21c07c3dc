"""Section checks: the self-check list, pass / warn / fail with a hint each, as the installer sees it."""

NAME, ORDER = "checks", 50


def collect(box, cfg):
    from agent.watch.checks import run_checks, to_dict

    return to_dict(run_checks(cfg, box))
