"""Small statistics the tools report their figures with (one definition of a percentile for every tool)."""

from __future__ import annotations

import math


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank P-th percentile of VALUES, to 0.1; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)], 1)
