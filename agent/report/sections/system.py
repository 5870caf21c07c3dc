"""Section system: load, memory, disk, temperatures, uptime, boots, clock state, top processes."""

NAME, ORDER = "system", 60


def collect(box, cfg):
    return box.health["system"]
