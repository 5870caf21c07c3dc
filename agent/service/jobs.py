"""The main loop's clocks: periodic jobs on the monotonic clock, calendar jobs on `schedule` in a named zone.

Why two: the wall clock of a box jumps. A Raspberry Pi has no real-time clock, boots with the time of
its last shutdown and steps when NTP syncs (hours, days); the zone falls back an hour every October.
`schedule` counts in naive local time, so each of those stalled every periodic job until the wall clock
caught up again. What keeps the box alive (polling, fault rules, status, the recorder, fault reports)
therefore counts seconds since boot, which never jumps; `schedule` keeps what it is for, jobs at an
hour of the day (the daily MQTT re-probe), in the configured zone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Periodic:
    name: str
    every_s: float
    run: Callable[[], None]
    due: float = 0.0  # monotonic
    runs: int = 0


class Jobs:
    """Periodic jobs on a monotonic CLOCK (injectable for tests), and calendar jobs on `schedule`.

    A job that was late (the loop was busy, the process was stopped) runs once and is then due a whole
    interval later: never a burst of catch-up runs.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, zone: str = "UTC"):
        self._clock, self.zone = clock, zone
        self.periodic: list[Periodic] = []
        self._calendar: Any = None  # a schedule.Scheduler, made with the first calendar job (imported then)
        self.last_run: float | None = None  # monotonic: when any periodic job last ran

    def every(self, seconds: float, name: str, job: Callable[[], None], first_in: float = 0.0) -> Periodic:
        p = Periodic(name, seconds, job, self._clock() + first_in)
        self.periodic.append(p)
        return p

    def daily_at(self, hhmm: str, job: Callable[[], None]) -> None:
        """JOB once a day at HHMM in the configured zone (a calendar job, on `schedule`)."""
        import schedule

        if self._calendar is None:
            self._calendar = schedule.Scheduler()
        self._calendar.every().day.at(hhmm, self.zone).do(job)

    def run_pending(self) -> int:
        """Run every job that is due; return how many ran."""
        ran = 0
        for p in self.periodic:
            now = self._clock()
            if now >= p.due:
                p.run()
                p.runs += 1
                ran += 1
                # Due an interval after the last due time, so the rhythm holds; after a long pause, an
                # interval after now (one run, then the old rhythm, never a burst).
                p.due = p.due + p.every_s if p.due + p.every_s > now else now + p.every_s
                self.last_run = self._clock()
        if self._calendar is not None:
            self._calendar.run_pending()
        return ran

    def idle_seconds(self) -> float:
        """How long until the next periodic job is due (0 when one is due now)."""
        now = self._clock()
        return max(0.0, min((p.due - now for p in self.periodic), default=1.0))

    def alive(self, within_s: float) -> bool:
        """Did a periodic job run within WITHIN_S? The watchdog is fed only then: a loop that still turns but
        runs no job is as dead to the wallbox as a hung one."""
        return self.last_run is not None and self._clock() - self.last_run <= within_s
