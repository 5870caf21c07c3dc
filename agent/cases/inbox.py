"""What support says of the box's cases, as it comes in (MQTT at once, HTTPS now and then): believed only
when it is bounded, sealed by the backend with this box's key (agent/wire.py) and newer than what the box
holds; whatever fails is dropped and counted, never shown, and never stops what comes after it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agent import wire
from agent.cases.book import CaseBook, CaseStateError, check_state
from agent.config import SupportConfig
from agent.ratelimit import RateLimit

log = logging.getLogger(__name__)
MAX_DEPTH = 6  # a case state: its messages, each an object; nothing deeper


def _open_first(state: object) -> tuple:
    """The order the HTTPS list is read in: open cases first, the newest change first among them."""
    if not isinstance(state, dict):
        return (True, 0)
    updated = state.get("updated")
    return (state.get("state") == "solved", -updated if isinstance(updated, (int, float)) else 0)


class CaseInbox:
    """CHANGED hears of every case state that changed what the box knows."""

    def __init__(self, cfg: SupportConfig, serial: str, book: CaseBook, changed: Callable[[], None]):
        self.cfg = cfg
        self.serial = serial
        self.book = book
        self._changed = changed
        self.dropped = 0  # case states not used: unsigned, forged, oversized, of the wrong shape
        self._drop_log = RateLimit(10, 60.0)

    def list_bytes(self) -> int:
        """The most an HTTPS list of cases may hold."""
        return self.cfg.max_case_bytes * min(self.cfg.max_cases * 2, 200)

    def from_mqtt(self, payload: bytes) -> None:
        """A retained case state (paho's thread: cheap, and never raises)."""
        if not payload:
            return  # a retained message cleared by the backend
        try:
            self.take(wire.parse(payload, self.cfg.max_case_bytes, MAX_DEPTH), "MQTT")
        except wire.WireError as exc:
            self._drop("MQTT", str(exc))

    def take_list(self, cases: list, where: str) -> None:
        for state in sorted(cases, key=_open_first):
            self.take(state, where)

    def take(self, data: object, where: str) -> None:
        """One case state, believed only once its seal is checked; a bad one is dropped and counted."""
        try:
            state = wire.unseal(self.cfg.case_key, "case", self.serial, data)
            if self.book.apply(state, time.time()):
                checked = check_state(state)
                log.info("case %s: %s", checked["case"], checked["state"])
                self._changed()
        except (wire.WireError, CaseStateError) as exc:
            self._drop(where, str(exc))

    def _drop(self, where: str, why: str) -> None:
        self.dropped += 1
        allowed, skipped = self._drop_log.allow()
        if allowed:
            more = f" ({skipped} more dropped before this one)" if skipped else ""
            log.warning("a case state from %s is not used: %s%s", where, why, more)
