"""The clocks as the parts take them by default: the wall clock looked up at every call, and the boot id.

A default argument of `time.time` binds the function once, at import; a clock injected later for the whole
process (a test stepping the wall clock the way NTP does) would then reach no part. Every stamp from it is
UTC seconds; what keeps the box alive counts on time.monotonic instead (agent/service/jobs.py).
"""

import time
from pathlib import Path


def wall() -> float:
    return time.time()


def boot_id() -> str:
    """This boot's id: a monotonic time means something only within the boot it was read in."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
