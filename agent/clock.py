"""The wall clock as the parts take it by default: looked up at every call.

A default argument of `time.time` binds the function once, at import; a clock injected later for the whole
process (a test stepping the wall clock the way NTP does) would then reach no part. Every stamp from it is
UTC seconds; what keeps the box alive counts on time.monotonic instead (agent/service/jobs.py).
"""

import time


def wall() -> float:
    return time.time()
