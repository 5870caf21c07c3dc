"""Section software: the firmware version, its channel, the newest release and the verdict."""

NAME, ORDER = "software", 80


def collect(box, cfg):
    return box.health["software"]
