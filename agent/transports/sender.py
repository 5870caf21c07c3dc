"""Drain the outbox: one delivery attempt per due report, on each report's own schedule (agent/transports/
pacing.py: urgent first, backoff with full jitter, a failure holding what is less urgent), receipts kept.

What ends a report's retries: a receipt; a refusal that is final (the backend's 4xx, a report no transport
can carry), parked until the settings change or a person retries; eviction by the outbox's quota (low and
medium priority only). Nothing else: the waits between tries are bounded by retry_max_s (Retry-After by
RETRY_AFTER_MAX_S), and the send thread looks again at least once a minute, so a clock step in either
direction neither stalls nor bursts it. A report waiting for the clock counts no attempt.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from agent.clock import wall as wall_clock
from agent.config import BackendConfig
from agent.outbox import Entry, Outbox, bundle_damage, urgency
from agent.transports.base import DeliveryError, Receipt, Transport
from agent.transports.budget import Budget
from agent.transports.pacing import Pacing

log = logging.getLogger(__name__)
CLOCK_WAIT_S = 30.0  # a report waiting for the clock to be set looks again this often


def choose_transports(backend: BackendConfig, https: Transport | None, mqtt: Transport | None) -> list[Transport]:
    """The transports to try, in order. auto: HTTPS when a backend URL is set, MQTT as the fallback;
    https or mqtt: that one first, and with mqtt, HTTPS as the fallback for reports too large for the broker."""
    first = backend.transport if backend.transport != "auto" else ("https" if backend.url else "mqtt")
    names = [first] + ([] if backend.transport == "https" else ["https" if first == "mqtt" else "mqtt"])
    by_name = {"https": https if backend.url else None, "mqtt": mqtt}
    return [t for n in names if (t := by_name[n]) is not None]


def delivery_warnings(cfg) -> list[str]:
    """What a configuration that loads will still not do well, in words (check-config and the daemon's start)."""
    from agent.transports.mqtt import DEFAULT_MAX_PACKET

    out = []
    if cfg.mqtt.enabled and not cfg.backend.url:
        limit = cfg.mqtt.max_packet_bytes or DEFAULT_MAX_PACKET
        if cfg.report.max_bytes > limit:
            out.append(
                f"backend.url: MQTT is the only way to the backend, and reports of up to report.max_bytes "
                f"({cfg.report.max_bytes} bytes) do not fit the broker's packet limit ({limit} bytes"
                f"{'' if cfg.mqtt.max_packet_bytes else ', assumed: mqtt.max_packet_bytes sets it'}): "
                "such reports are refused. Set backend.url, or report.max_bytes below the limit"
            )
    if not cfg.mqtt.enabled and not cfg.backend.url:
        out.append("backend.url: no way to the backend (no backend.url, MQTT off): reports wait on the box")
    return out


NO_WAY = "no way to the backend is configured: set backend.url, or enable MQTT"
# Without the daemon an MQTT-only box has no transport here: the broker link is the daemon's own.
MQTT_IS_THE_DAEMONS = (
    "MQTT is this box's way to the backend and its link belongs to the daemon: the report goes once the daemon runs"
)


def deliver(transports: list[Transport], report_id: str, path, none_why: str = NO_WAY) -> tuple[Receipt, str]:
    """One try of REPORT_ID's bundle at PATH: each transport in turn until one gives a receipt. A report too
    large for the broker goes by HTTPS; the daemon then publishes an MQTT notice of it. NONE_WHY: what to say
    when there is no transport to try."""
    if not transports:  # a setting missing, not a report refused: it waits on the box until one is set
        raise DeliveryError(none_why)
    problems, retry_after = [], None
    cannot_carry = clock = 0
    for transport in transports:
        try:
            if not transport.ready():
                raise DeliveryError("not connected to the broker")
            return transport.send(report_id, path), transport.name
        except DeliveryError as exc:
            if exc.final:
                raise
            name = transport.name.upper()
            problems.append(f"{name}: {exc}" if len(transports) > 1 else str(exc))
            retry_after = exc.retry_after or retry_after
            cannot_carry, clock = cannot_carry + exc.cannot_carry, clock + exc.clock
    if cannot_carry == len(transports):  # waiting cannot help: say so instead of trying for ever
        raise DeliveryError(
            "no configured transport can carry this report ("
            + "; ".join(problems)
            + "): set backend.url so that large reports go by HTTPS",
            final=True,
        )
    raise DeliveryError("; ".join(problems), retry_after=retry_after, clock=clock > 0)


def hurry(transports: list[Transport], within_s: float | None) -> None:
    """Transports that reconnect by themselves (MQTT) come back within WITHIN_S while something urgent waits."""
    for transport in transports:
        soon = getattr(transport, "hurry", None)  # an optional capability of a transport
        if soon:
            soon(within_s)


class Sender:
    """Drains the outbox through TRANSPORTS; FINGERPRINT names the delivery settings a refusal was made under."""

    def __init__(
        self,
        backend: BackendConfig,
        outbox: Outbox,
        transports: list[Transport],
        fingerprint: str = "",
        clock: Callable[[], float] = wall_clock,
        rng: Callable[[], float] = random.random,
        on_delivered: Callable[[Entry], None] | None = None,
        budget: Budget | None = None,
    ):
        self.backend = backend
        self.outbox = outbox
        self.transports = transports
        self.budget = budget  # the data budget (transports/budget.py): medium and low reports may wait for it
        self.fingerprint = fingerprint
        self.on_delivered = on_delivered
        self.none_why = NO_WAY  # what a try says with no transport (delivery() knows why there is none)
        self._clock, self.pace = clock, Pacing(backend, rng, budget)
        self._lock = threading.Lock()  # one drain at a time: a report is never sent twice in parallel
        self._changed = threading.Condition()

    def attempt(self, entry: Entry) -> Entry:
        """Try once to deliver ENTRY; its new state is saved, and a delivery told, before this returns."""
        self._try(entry)
        self._tell(entry)
        return entry

    def _try(self, entry: Entry) -> Entry:
        """One try, its outcome saved through the outbox's one update; nobody told yet (the caller may hold the
        drain's lock: callbacks run after it, _tell)."""
        damage, outcome = bundle_damage(self.outbox.bundle_path(entry.report_id), entry.size), None
        if damage is None:
            try:
                path = self.outbox.bundle_path(entry.report_id)
                outcome = deliver(self.transports, entry.report_id, path, self.none_why)
            except OSError as exc:  # it went between the look and the read: damaged all the same
                damage = f"its bundle cannot be read ({exc.strerror or exc})"
            except DeliveryError as exc:
                self._failed(entry, exc)
        if damage:
            log.error("report %s cannot be sent: %s; it is kept as refused, the rest go on", entry.report_id, damage)
            self._set(entry, damaged=True, last_error=damage)
        elif outcome:
            self._delivered(entry, *outcome)
        with self._changed:
            self._changed.notify_all()
        return entry

    def _tell(self, entry: Entry) -> None:
        if entry.delivered and self.on_delivered:
            self.on_delivered(entry)

    def _failed(self, entry: Entry, exc: DeliveryError) -> None:
        now = self._clock()
        if exc.clock:  # not an attempt the backend saw: the report waits for the clock, uncounted
            log.warning("report %s waits for the clock: %s", entry.report_id, exc)
            self._set(entry, last_error=str(exc), scheduled=now, next_attempt=now + CLOCK_WAIT_S)
            return
        attempts = entry.attempts + 1
        wait = self.pace.backoff(attempts, exc.retry_after, urgency(entry)[0])
        if exc.final:
            log.error("report %s parked: %s", entry.report_id, exc)
        else:
            log.warning("report %s not delivered (attempt %d): %s", entry.report_id, attempts, exc)
        self._set(
            entry,
            last_error=str(exc),
            scheduled=now,
            attempts=attempts,
            parked=exc.final,
            parked_config=self.fingerprint if exc.final else None,
            next_attempt=now + wait,
        )

    def _delivered(self, entry: Entry, receipt, via: str) -> None:
        saved = self._set(entry, attempts=entry.attempts + 1, last_error=None, receipt=receipt.to_dict(), via=via)
        if saved is None:
            # Not lost: the report stays waiting on disk and is sent again; the backend knows it by
            # its id (Idempotency-Key) and answers with the same case.
            entry.receipt = None
            return
        log.info(
            "report %s delivered by %s: case %s, %s priority", entry.report_id, via, receipt.case, receipt.priority
        )
        if saved is False:  # the quota evicted it during the upload: delivered, and not brought back
            log.info(
                "report %s left the outbox while it was sent (its quota): its receipt is not kept", entry.report_id
            )

    def _set(self, entry: Entry, **fields) -> bool | None:
        """FIELDS of ENTRY changed, on this copy and on disk through the outbox's one update (the state read anew
        under its lock). True when saved; False when the report is gone (evicted meanwhile: it stays gone);
        None when it cannot be saved (a full disk must not end the send thread: it is tried again)."""
        for name, value in fields.items():
            setattr(entry, name, value)
        try:
            return self.outbox.update(entry.report_id, lambda e: e.__dict__.update(fields)) is not None
        except OSError as exc:
            log.error(
                "report %s: its delivery state cannot be saved (%s); it is tried again",
                entry.report_id,
                exc.strerror or exc,
            )
            entry.next_attempt = self._clock() + self.backend.retry_max_s
            return None

    def drain(self) -> int:
        """Try every due report in order (urgent first, then by priority, oldest first), each on its own
        schedule; on a failure the reports as urgent or less behind it wait (_hold_queue). Returns how many
        were delivered."""
        delivered: list[Entry] = []
        urgent_waits = False
        with self._lock:
            now = self._clock()
            for entry in self.outbox.pending():  # in order: nothing after a failed one is more urgent than it
                if self.pace.due_at(entry, now) > now:
                    urgent_waits |= urgency(entry)[0]
                    continue  # its own schedule: after an outage the urgent ones go first, the rest spread
                was_deferred = "deferred" in entry.extra
                if self.pace.deferred(entry, now):  # the data budget has no room for it before then
                    self._defer(entry)
                    continue
                if was_deferred:  # its wait for the budget is over: it goes now
                    self._defer(entry)
                self._try(entry)
                if entry.delivered:
                    delivered.append(entry)
                elif not (entry.parked or entry.damaged):  # the backend is down or shedding load
                    urgent_waits |= urgency(entry)[0]
                    self._hold_queue(entry)
                    break
            hurry(self.transports, self.backend.urgent_retry_s if urgent_waits else None)
        for entry in delivered:  # told after the lock: a listener may take its time (the broker's acknowledgement)
            self._tell(entry)
        return len(delivered)

    def _defer(self, entry: Entry) -> None:
        """ENTRY's wait for the data budget (Pacing.deferred) saved: a new one, or its end."""
        deferred = entry.extra.get("deferred")

        def change(e: Entry) -> None:
            e.next_attempt, e.scheduled = entry.next_attempt, entry.scheduled
            if deferred:
                e.extra["deferred"] = deferred
            else:
                e.extra.pop("deferred", None)

        try:
            self.outbox.update(entry.report_id, change)
        except OSError as exc:
            log.error("report %s: its wait for the data budget cannot be saved (%s)", entry.report_id, exc)

    def run(self, stop: threading.Event, wake: threading.Event) -> None:
        """The send thread: drain whenever something is due or WAKE is set, until STOP (what ends a report's
        retries: the module's docstring)."""
        while not stop.is_set():
            wake.clear()
            try:
                self.drain()
            except Exception as exc:  # the send thread must outlive anything one drain meets
                log.error("sending stopped for a moment: %s: %s", type(exc).__name__, exc)
                wake.wait(timeout=5)
            now = self._clock()
            wait = min((self.pace.due_at(e, now) for e in self.outbox.pending()), default=now + 60) - now
            wake.wait(timeout=min(max(wait, 0.05), 60))
        if self.budget:
            self.budget.save()  # an orderly stop keeps the small traffic's count too

    def _hold_queue(self, failed: Entry) -> None:
        """What is as urgent as FAILED or less waits (Pacing.held); read anew: a stale copy revives an evicted one."""
        now = self._clock()
        for entry in self.outbox.pending():
            when = self.pace.held(entry, failed, now)
            if when is not None:
                self._set(entry, next_attempt=when, scheduled=now)

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


def fingerprint(cfg) -> str:
    """Changes when anything that decides a delivery's fate changes (backend, MQTT): parked reports are
    retried then."""
    import dataclasses
    import hashlib
    import json

    relevant = {"backend": dataclasses.asdict(cfg.backend), "mqtt": dataclasses.asdict(cfg.mqtt)}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def delivery(cfg, mqtt: Transport | None = None, on_delivered: Callable[[Entry], None] | None = None) -> Sender:
    """The one wiring of the delivery stage, for the daemon and for a command run without it: the outbox on
    disk, HTTPS (and MQTT, where the daemon has a link) in the configured order, and the sender over them."""
    from agent.paths import outbox_dir
    from agent.transports.budget import budget_of
    from agent.transports.https import HttpsTransport

    budget = budget_of(cfg) if cfg.backend.data_budget.enabled else None
    https = HttpsTransport(cfg.backend, cfg.device.identity, meter=budget)
    link = getattr(mqtt, "link", None)
    if budget and link is not None:  # the broker link's messages count against it too
        link.meter = budget
    transports = choose_transports(cfg.backend, https, mqtt)
    outbox = Outbox(outbox_dir(cfg))
    sender = Sender(cfg.backend, outbox, transports, fingerprint(cfg), on_delivered=on_delivered, budget=budget)
    if cfg.mqtt.enabled and mqtt is None:
        sender.none_why = MQTT_IS_THE_DAEMONS
    return sender
