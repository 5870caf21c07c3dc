"""One probe of a health collector, its failure kept as the reason the value is missing (used by every
collector: system.py, network.py)."""

from __future__ import annotations


def probe(unavailable: dict, name: str, read, default=None):
    """One probe of a collector: its value, or DEFAULT with the reason kept in UNAVAILABLE. A driver or
    a sandbox that refuses one call (ENOSYS, EPERM) costs that one value, never its whole section."""
    try:
        return read()
    except Exception as exc:
        unavailable[name] = f"{type(exc).__name__}: {exc}"[:200]
        return default
