"""When each waiting report tries next: the sender's one judgement of backoff, due times and holding.

Urgent first: a high-priority or on-site report that waits is tried on its own short schedule
(backend.urgent_retry_s, a small jitter), so after an outage it is the box's first contact, within seconds;
the rest keep the full-jitter backoff, spread over minutes across a fleet. A failure holds every report as
urgent or less behind it, never a more urgent one: a Retry-After the backend gives a low report (429, load
shed by priority) holds the low and medium ones, not the on-site report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.clock import utc_iso
from agent.config import BackendConfig
from agent.outbox import Entry, urgency
from agent.retry import backoff
from agent.transports.budget import Budget

log = logging.getLogger(__name__)

RETRY_AFTER_MAX_S = 6 * 3600.0  # a backend's Retry-After is honoured up to this long
DEFERRED_MAX_S = 33 * 86400.0  # a report the data budget defers waits at most until the next month


class Pacing:
    def __init__(self, backend: BackendConfig, rng: Callable[[], float], budget: Budget | None = None):
        self.backend = backend
        self._rng = rng
        self.budget = budget

    def backoff(self, attempts: int, retry_after: float | None, urgent: bool = False) -> float:
        """Full jitter: a random delay up to base * 2^attempts, capped, and never before Retry-After. URGENT:
        capped at urgent_retry_s and drawn from 70-100 % of the delay (spread across a fleet, yet soon)."""
        b = self.backend
        if urgent:
            delay = backoff(attempts, b.retry_base_s, min(b.urgent_retry_s, b.retry_max_s), self._narrow)
        else:
            delay = backoff(attempts, b.retry_base_s, b.retry_max_s, self._rng)
        return max(delay, min(retry_after or 0.0, RETRY_AFTER_MAX_S))

    def _narrow(self) -> float:
        return 0.7 + 0.3 * self._rng()

    def due_at(self, entry: Entry, now: float) -> float:
        """When ENTRY is due. A clock that has gone back since its wait was set (an NTP step, a boot with a stale
        time: now is before then) makes it due now, not an hour or days later; so does a wait further ahead
        than the sender ever schedules (a state file from before such a step)."""
        horizon = DEFERRED_MAX_S if entry.extra.get("deferred") else max(self.backend.retry_max_s, RETRY_AFTER_MAX_S)
        horizon += 60.0
        went_back = entry.scheduled and now < entry.scheduled - 1.0
        return now if went_back or entry.next_attempt > now + horizon else entry.next_attempt

    def held(self, entry: Entry, failed: Entry, now: float) -> float | None:
        """ENTRY's new next attempt now that the backend did not take FAILED, or None where it stays: no report
        as urgent or less tries before FAILED does, and each draws its own wait from its own schedule (a box's
        low reports spread over minutes after the backend is back)."""
        if entry.report_id == failed.report_id or urgency(entry) > urgency(failed):
            return None
        if entry.next_attempt >= failed.next_attempt:
            return None
        return max(failed.next_attempt, now + self.backoff(max(failed.attempts, 1), None, urgency(entry)[0]))

    def deferred(self, entry: Entry, now: float) -> bool:
        """True when ENTRY, due now, waits for the data budget instead (its new wait set, to be saved): a medium
        or low report it has no room for goes in the next day or month; urgent reports, reports answering a data
        request and the box's articles (answers, photos, feedback) always go (agent/transports/budget.py)."""
        later = None
        talk = entry.extra.get("answer") or entry.extra.get("kind", "report") != "report"  # support waits for it
        if self.budget and not (urgency(entry)[0] or talk):
            later = self.budget.defer(entry.size)
            if later and entry.extra.get("deferred") and self.budget.never_fits(entry.size):
                log.warning("report %s is larger than a whole day's data budget: it goes now", entry.report_id)
                later = None  # it has waited for a new day once: waiting more would keep it for ever
        if later is None:
            entry.extra.pop("deferred", None)  # saved with the attempt that follows
            return False
        entry.next_attempt, entry.scheduled = later[0], now
        entry.extra["deferred"] = {"until": later[0], "period": later[1]}
        log.info(
            "report %s (%s priority, %d bytes) waits for the data budget: this %s's is spent; it goes at %s",
            entry.report_id, entry.priority, entry.size, later[1], utc_iso(later[0]),
        )  # fmt: skip
        return True
