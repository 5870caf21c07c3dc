"""On-site mode: an installer is at the box. One persisted state; it ends by itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from agent.clock import wall as wall_clock
from agent.paths import state_path
from agent.storage import StateFile
from agent.vocab import ONSITE_CHANNELS
from agent.watch.timeline import Timeline

log = logging.getLogger(__name__)


@dataclass
class OnSiteState:
    on: bool = False
    since: float | None = None  # wall time
    channel: str | None = None
    expires: float | None = None


class OnSite:
    def __init__(
        self,
        state_dir: str,
        duration_s: float,
        timeline: Timeline,
        clock: Callable[[], float] = wall_clock,
        on_change: Callable[[OnSiteState], None] | None = None,
    ):
        self._file = StateFile(state_path(state_dir, "onsite"), asdict(OnSiteState()), durable=True)
        self.duration_s = duration_s
        self.timeline = timeline
        self._clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()
        self._state = OnSiteState(**self._file.load())

    def _save(self) -> None:
        self._file.save(asdict(self._state))

    def state(self) -> OnSiteState:
        """The current state; an expired session ends here, with its event."""
        changed = None
        with self._lock:
            s = self._state
            if s.on and s.expires is not None and self._clock() >= s.expires:
                self._state = OnSiteState()
                try:
                    self._save()
                except OSError as exc:  # expired all the same; the file says so at the next start too
                    log.warning("the end of on-site mode cannot be saved: %s", exc)
                self.timeline.add("event", "onsite_ended", f"on-site mode expired (started by {s.channel})")
                log.info("on-site mode expired")
                changed = self._state
            state = OnSiteState(**asdict(self._state))
        if changed is not None and self.on_change:
            self.on_change(changed)
        return state

    @property
    def active(self) -> bool:
        return self.state().on

    def set(self, on: bool, channel: str) -> OnSiteState:
        if channel not in ONSITE_CHANNELS:
            raise ValueError(f"channel: expected one of {', '.join(ONSITE_CHANNELS)}")
        current = self.state()
        if current.on == on:
            return current
        with self._lock:
            now = self._clock()
            new = OnSiteState(True, now, channel, now + self.duration_s) if on else OnSiteState()
            try:  # saved first: on-site mode is never on in memory only
                self._file.save(asdict(new))
            except OSError as exc:
                raise ValueError(
                    f"on-site mode not changed: it cannot be saved in {self._file.path.parent} ({exc.strerror or exc})"
                ) from None
            self._state = new
            state = OnSiteState(**asdict(self._state))
        if on:
            self.timeline.add(
                "event", "onsite_started", f"on-site mode on (by {channel}) for {self.duration_s / 3600:g} h"
            )
        else:
            self.timeline.add("event", "onsite_ended", f"on-site mode off (by {channel})")
        log.info("on-site mode %s by %s", "on" if on else "off", channel)
        if self.on_change:
            self.on_change(state)
        return state

    def toggle(self, channel: str) -> OnSiteState:
        return self.set(not self.active, channel)

    def to_dict(self) -> dict:
        s = self.state()
        left = max(0.0, s.expires - self._clock()) if s.on and s.expires else None
        return dict(asdict(s), remaining_s=round(left) if left is not None else None)
