"""The one rate limiter: at most MOST events of a kind within a sliding WINDOW_S; those over it are counted
and the count handed to the next one let through, so a flood costs a line, not the SD card or the log.

The security log keeps 30 of each kind an hour, the cloud commands' log 10 rejections a minute."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimit:
    def __init__(self, most: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.most = most
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, kind: str = "") -> tuple[bool, int]:
        """(True, how many of KIND were held back since the last one let through), or (False, 0)."""
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(kind, deque())
            while seen and now - seen[0] >= self.window_s:
                seen.popleft()
            if len(seen) >= self.most:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False, 0
            seen.append(now)
            return True, self._held.pop(kind, 0)

    def wait_s(self, kind: str = "") -> float:
        """How long until one more of KIND is let through (0 when it would be now)."""
        now = self._clock()
        with self._lock:
            seen = self._seen.get(kind)
            if not seen or len(seen) < self.most:
                return 0.0
            return max(0.0, seen[0] + self.window_s - now)
