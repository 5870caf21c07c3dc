"""Section config: the agent's whole configuration (secrets are masked by key and by value)."""

NAME, ORDER = "config", 100


def collect(box, cfg):
    return cfg.as_dict()
