"""The event timeline: faults raised and cleared, and other events, in a bounded ring."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from agent.clock import boot_id
from agent.clock import wall as wall_clock


@dataclass
class Event:
    kind: str  # raised | cleared | event
    code: str
    message: str
    wall: float
    mono: float
    device: str | None = None
    severity: str | None = None
    category: str | None = None
    earlier_run: bool = False  # read back from the flight recorder: it happened before the agent's last start
    # Was the wall clock set (NTP) when this happened? False: WALL is the clock of a box without a real-time
    # clock before NTP (the time of its last shutdown); it is put right when the clock steps, else shown
    # as "clock not set". None: nobody could tell.
    clock_set: bool | None = None
    corrected: bool = False  # WALL was put right by the step of the clock that set it
    boot: str | None = None  # the boot MONO was read in (another boot's monotonic times are not comparable)


def _is_event(e: object) -> bool:
    """An event the recorder wrote, by the kinds of its fields (the timeline file is input at a start)."""
    text_or_none = ("device", "severity", "category", "boot")
    return (
        isinstance(e, dict)
        and all(isinstance(e.get(k), str) for k in ("kind", "code", "message"))
        and isinstance(e.get("wall"), (int, float))
        and not isinstance(e.get("wall"), bool)
        and all(e.get(k) is None or isinstance(e[k], str) for k in text_or_none)
        and all(e.get(k) is None or isinstance(e[k], bool) for k in ("earlier_run", "clock_set", "corrected"))
    )


class Timeline:
    def __init__(
        self,
        capacity: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = wall_clock,
        clock_set: Callable[[], bool | None] = lambda: None,
    ):
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._clock = clock
        self._wall = wall
        self._clock_set = clock_set
        self._boot = boot_id()
        self.capacity = capacity
        self.on_add: Callable[[Event], None] | None = None  # the flight recorder writes each event down

    def add(self, kind: str, code: str, message: str, **fields) -> Event:
        event = Event(
            kind,
            code,
            message,
            self._wall(),
            self._clock(),
            **dict({"clock_set": self._clock_set(), "boot": self._boot}, **fields),
        )
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
                if _is_event(e):  # else a damaged or planted line: the rest still count
                    fields = {k: v for k, v in e.items() if k in names}
                    self._events.append(Event(**dict(fields, mono=None, earlier_run=True)))
            self._events.extend(mine)

    def clock_stepped(self, jump: float) -> int:
        """The wall clock stepped by JUMP seconds: this run's events stamped before the clock was set get
        their right time (they are in the ring in the order they happened, whatever their stamps say)."""
        n = 0
        with self._lock:
            for e in self._events:
                if e.mono is not None and e.clock_set is False and not e.corrected:
                    e.wall, e.corrected, n = e.wall + jump, True, n + 1
        return n

    def to_list(self) -> list[dict]:
        with self._lock:
            return [asdict(e) for e in self._events]
