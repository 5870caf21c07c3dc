"""Section network: link, address, gateway, DNS, backend and broker, step by step, and the verdict."""

NAME, ORDER = "network", 70


def collect(box, cfg):
    return box.health["network"]
