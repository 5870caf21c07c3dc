"""The clocks as the parts take them by default: the wall clock looked up at every call, and the boot id.

A default argument of `time.time` binds the function once, at import; a clock injected later for the whole
process (a test stepping the wall clock the way NTP does) would then reach no part. Every stamp from it is
UTC seconds; what keeps the box alive counts on time.monotonic instead (agent/service/jobs.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path


def wall() -> float:
    return time.time()


def utc_iso(t: float) -> str:
    """T as people and other programs read it: 2026-11-25T07:52:00+00:00."""
    from datetime import datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def utc_compact(t: float | None = None) -> str:
    """T (else now) as a name may carry it, sortable: 20261125T075200Z."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall() if t is None else t))


@dataclass(frozen=True)
class Window:
    """A time window, either end open (None): an OCPP log request's, a report's "only this span"."""

    oldest: float | None = None
    latest: float | None = None

    def __contains__(self, t: float) -> bool:
        return (self.oldest is None or t >= self.oldest) and (self.latest is None or t <= self.latest)


def boot_id() -> str:
    """This boot's id: a monotonic time means something only within the boot it was read in."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
