"""The agent's own newest log lines, in a bounded ring, for reports."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque


class UtcFormatter(logging.Formatter):
    """Every stamp the agent writes is UTC and says so (2026-10-25T01:00:00.123Z): a box's zone and its
    summer time must not make its own log lines fall outside a window around now."""

    converter = time.gmtime  # type: ignore[assignment]  # logging's own way to stamp in UTC
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class RingHandler(logging.Handler):
    def __init__(self, capacity: int):
        super().__init__()
        self._lines: deque[str] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._lines.append(line)

    @classmethod
    def attach(cls, capacity: int, scrub: logging.Filter) -> RingHandler:
        """A ring on the root logger, its lines scrubbed like every other log line."""
        ring = cls(capacity)
        ring.setFormatter(UtcFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ring.addFilter(scrub)
        logging.getLogger().addHandler(ring)
        return ring

    def tail(self) -> list[str]:
        with self._guard:
            return list(self._lines)
