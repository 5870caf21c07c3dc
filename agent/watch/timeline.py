"""The event timeline: faults raised and cleared, and other events, in a bounded ring."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable, Optional


@dataclass
class Event:
    kind: str  # raised | cleared | event
    code: str
    message: str
    wall: float
    mono: float
    device: Optional[str] = None
    severity: Optional[str] = None
    category: Optional[str] = None


class Timeline:
    def __init__(self, capacity: int = 1000, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._clock, self._wall = clock, wall

    def add(self, kind: str, code: str, message: str, **fields) -> Event:
        event = Event(kind, code, message, self._wall(), self._clock(), **fields)
        with self._lock:
            self._events.append(event)
        return event

    def to_list(self) -> list[dict]:
        with self._lock:
            return [asdict(e) for e in self._events]
