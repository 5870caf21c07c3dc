"""Drain the outbox: one delivery attempt per due report, backoff with full jitter, receipts kept."""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable

from agent.config import AgentConfig
from agent.deliver.https import DeliveryError, upload
from agent.outbox import Entry, Outbox

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, cfg: AgentConfig, outbox: Outbox, clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random):
        self.cfg, self.outbox = cfg, outbox
        self._clock, self._rng = clock, rng
        self._lock = threading.Lock()  # one drain at a time: a report is never sent twice in parallel
        self._changed = threading.Condition()

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Full jitter: a random delay up to base * 2^attempts, capped, and never before Retry-After."""
        b = self.cfg.backend
        delay = self._rng() * min(b.retry_max_s, b.retry_base_s * 2 ** max(attempts - 1, 0))
        return max(delay, retry_after or 0.0)

    def attempt(self, entry: Entry) -> Entry:
        """Try once to deliver ENTRY; its new state is saved before this returns."""
        try:
            receipt = upload(self.cfg.backend, entry.report_id, self.outbox.bundle_path(entry.report_id),
                             self.cfg.device.serial)
        except DeliveryError as exc:
            entry.attempts += 1
            entry.last_error = str(exc)
            entry.parked = exc.final
            entry.next_attempt = self._clock() + self.backoff(entry.attempts, exc.retry_after)
            self.outbox.save(entry)
            if exc.final:
                log.error("report %s parked: %s", entry.report_id, exc)
            else:
                log.warning("report %s not delivered (attempt %d): %s", entry.report_id, entry.attempts, exc)
        else:
            entry.attempts += 1
            entry.last_error = None
            entry.receipt = receipt.to_dict()
            self.outbox.save(entry)
            log.info("report %s delivered: case %s, %s priority", entry.report_id, receipt.case, receipt.priority)
        with self._changed:
            self._changed.notify_all()
        return entry

    def drain(self) -> int:
        """Try every report that is due, in sending order; return how many were delivered."""
        delivered = 0
        with self._lock:
            for entry in self.outbox.due():
                if self.attempt(entry).delivered:
                    delivered += 1
        return delivered

    def wait_for(self, report_id: str, timeout: float) -> Entry | None:
        """Wait until REPORT_ID is delivered, parked or has failed once more; None if it is unknown."""
        deadline = time.monotonic() + timeout
        first = self.outbox.load(report_id)
        with self._changed:
            while True:
                entry = self.outbox.load(report_id)
                if entry is None or entry.delivered or entry.parked:
                    return entry
                if first and entry.attempts > first.attempts:
                    return entry
                left = deadline - time.monotonic()
                if left <= 0:
                    return entry
                self._changed.wait(left)
