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
    earlier_run: bool = False  # read back from the flight recorder: it happened before the agent's last start


class Timeline:
    def __init__(self, capacity: int = 1000, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._clock, self._wall = clock, wall
        self.capacity = capacity
        self.on_add: Callable[[Event], None] | None = None  # the flight recorder writes each event down

    def add(self, kind: str, code: str, message: str, **fields) -> Event:
        event = Event(kind, code, message, self._wall(), self._clock(), **fields)
        with self._lock:
            self._events.append(event)
        if self.on_add is not None:
            self.on_add(event)
        return event

    def restore(self, events: list[dict]) -> None:
        """Events of earlier runs (the recorder's), before this run's; their monotonic times meant another boot."""
        names = Event.__dataclass_fields__
        with self._lock:
            mine = list(self._events)
            self._events.clear()
            for e in events:
                try:
                    fields = {k: v for k, v in e.items() if k in names}
                    self._events.append(Event(**dict(fields, mono=None, earlier_run=True)))
                except TypeError:
                    continue  # not an event (a damaged line): the rest still count
            self._events.extend(mine)

    def to_list(self) -> list[dict]:
        with self._lock:
            return [asdict(e) for e in self._events]
