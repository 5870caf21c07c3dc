"""Section readings: every device's current values with units and ages, and whether it answers."""

NAME, ORDER = "readings", 10


def collect(box, cfg):
    return box.readings
