"""Section buses: each bus's time budget, how often slow values are read, and skipped cycles."""

NAME, ORDER = "buses", 40


def collect(box, cfg):
    return box.buses
