"""The one backoff: how long to wait after the Nth failure in a row, doubling from a base to a cap, with a
jitter drawn per box, so a fleet that lost its backend, its gateway or a register does not come back in step.

The sender uses full jitter (a random share of the delay: AWS's "exponential backoff and jitter"); the Modbus
link a narrower spread around it (a gateway back should be heard again soon); a "once" value none."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff(failures: int, base_s: float, most_s: float, jitter: Callable[[], float] | None = None) -> float:
    """The wait after FAILURES failures in a row (1 is the first): BASE_S * 2^(FAILURES-1), at most MOST_S,
    times JITTER() where given (random.random: full jitter; spread(0.8, 1.2): a narrow one)."""
    delay = min(most_s, base_s * 2 ** max(failures - 1, 0))
    return delay * jitter() if jitter else delay


def spread(low: float, high: float) -> Callable[[], float]:
    return lambda: random.uniform(low, high)
