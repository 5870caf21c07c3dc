"""The data budget: what the box may send and receive in a day and in a calendar month on a metered link.

Counted (both ways): every HTTPS exchange with the backend, its bodies as they cross the wire plus an
estimate of the headers, TLS and TCP/IP (EXCHANGE_BYTES, and IP_SHARE of the bodies), and every MQTT message,
payload and topic plus an estimate (MESSAGE_BYTES), and the MQTT link's keepalives by the time it is up.
Not counted: DNS, NTP, the network self-check's probes, OCPP (its CSMS asks for what it gets).

What it decides, each decision logged and shown in the status and on the page:
- high-priority and on-site reports always go (urgent);
- support's data requests are answered within what is left (the builder cuts to fit, the manifest says what
  was left out), never deferred: support is waiting for them; so are the box's answers, photos and feedback;
- under LOW_SHARE of the day's or the month's budget left, medium and low reports are thinned when made
  (THIN: coarser history; the fault windows and every other section kept);
- a medium or low report that does not fit in what is left above the RESERVE (kept for the urgent ones and
  for answers) waits for the next day or month, spread over its first hour (a fleet does not start at 00:00).
The counts live in one small file, written when a report's bytes are counted and at most every SAVE_EVERY_S
otherwise (bounded writes on the SD card); a power cut forgets at most that much of the small traffic.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from agent.clock import wall as wall_clock
from agent.config.sections import DataBudget
from agent.storage import StateFile

log = logging.getLogger(__name__)

EXCHANGE_BYTES = 1_500  # an HTTPS exchange's headers both ways and its share of a TLS session
MESSAGE_BYTES = 60  # an MQTT PUBLISH's fixed header, packet id, properties and its PUBACK
PING_BYTES = 110  # PINGREQ and PINGRESP with their TCP/IP headers, once a keepalive interval
IP_SHARE = 0.05  # TCP/IP headers and acknowledgements on a body
LOW_SHARE = 0.5  # under this share of a budget left, medium and low reports are thinned
RESERVE = 0.2  # this share of each budget is kept for urgent reports and support's answers
SPREAD_S = 3600.0  # deferred reports resume over the first hour of the new day or month
SAVE_EVERY_S = 600.0
SAVE_NOW_BYTES = 8 << 10  # a report (or a photo) is worth a write at once; status and receipts wait
THIN = (2, 2)  # history: every 2**2-th raw sample of the last hour, 2**2 buckets merged into one
THIN_NOTE = "history: every 4th sample of the last hour, buckets 4 times as long (4 minutes by default)"


def on_wire(body_bytes: int, exchanges: int = 0) -> int:
    """What BODY_BYTES sent in EXCHANGES HTTPS exchanges cost on the link: the one estimate of the overheads."""
    return round(body_bytes * (1 + IP_SHARE)) + exchanges * EXCHANGE_BYTES


class Meter(Protocol):
    """What a link tells the budget (HttpClient, MqttLink): bytes that crossed it, and whether it is up."""

    def count(self, body_bytes: int, exchanges: int = 0, messages: int = 0) -> None: ...

    def link(self, up: bool, keepalive_s: float = 60.0) -> None: ...


class NoMeter:
    """No budget: nothing is counted."""

    def count(self, body_bytes: int, exchanges: int = 0, messages: int = 0) -> None:
        pass

    def link(self, up: bool, keepalive_s: float = 60.0) -> None:
        pass


NO_METER = NoMeter()


def counted(meter: Meter, topic: str, what):
    """WHAT (an MQTT payload, or a message received) as it goes by, counted on METER."""
    meter.count(len(getattr(what, "payload", what)) + len(topic), messages=1)
    return what


def publish_counted(client, meter: Meter, topic: str, payload: bytes | str, **kw):
    """paho's publish at QoS 1 (its MQTTMessageInfo), the message counted on METER."""
    return client.publish(topic, counted(meter, topic, payload), qos=1, **kw)


@dataclass
class Use:
    day: str = ""
    day_bytes: int = 0
    month: str = ""
    month_bytes: int = 0


class Budget:
    """CFG's budget over the counts in PATH; ZONE's midnight starts a day (the site's local time)."""

    def __init__(
        self,
        cfg: DataBudget,
        path: Path,
        zone: str = "UTC",
        clock: Callable[[], float] = wall_clock,
        rng: Callable[[], float] = random.random,
    ):
        from zoneinfo import ZoneInfo

        self.cfg = cfg
        self.path = path
        self._zone = ZoneInfo(zone)
        self._clock, self._rng = clock, rng
        self._lock = threading.Lock()
        self._file = StateFile(path, asdict(Use()), valid=_valid)  # the one state-file mechanism: shape, .bad
        self.use = Use(**self._file.load())
        self._saved_at = clock()
        self._unsaved = 0
        self._link_since: float | None = None
        self._keepalive_s = 60.0

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled

    # --- counting -------------------------------------------------------------------------------
    def count(self, body_bytes: int, exchanges: int = 0, messages: int = 0) -> None:
        """BODY_BYTES crossed the link in EXCHANGES HTTPS exchanges or MQTT MESSAGES (saved now for a report's
        bytes, else within SAVE_EVERY_S)."""
        if not self.enabled:
            return
        n = on_wire(body_bytes, exchanges) + messages * MESSAGE_BYTES
        with self._lock:
            self._add(n)
            if body_bytes >= SAVE_NOW_BYTES or self._clock() - self._saved_at >= SAVE_EVERY_S:
                self._save()

    def link(self, up: bool, keepalive_s: float = 60.0) -> None:
        """The MQTT link is up (or down): its keepalives count by the time it stays up."""
        with self._lock:
            self._pings()
            self._link_since, self._keepalive_s = (self._clock() if up else None), max(keepalive_s, 1.0)

    def _pings(self) -> None:
        if self._link_since is not None:
            now = self._clock()
            pings = int((now - self._link_since) / self._keepalive_s)
            if pings > 0:
                self._add(pings * PING_BYTES)
                self._link_since += pings * self._keepalive_s

    def _add(self, n: int) -> None:
        self._roll()
        self.use.day_bytes += n
        self.use.month_bytes += n
        self._unsaved += n

    def _roll(self) -> None:
        """A new day or month starts from nothing (the site's calendar). A clock stepped back keeps today's
        count; a count dated days ahead came from a clock that was wrong (a bogus date before NTP): it ends."""
        local = self._local()
        day = local.strftime("%Y-%m-%d")
        wrong_day = self.use.day >= (local + timedelta(days=2)).strftime("%Y-%m-%d")
        wrong_month = self.use.month >= (local + timedelta(days=32)).strftime("%Y-%m")
        if day > self.use.day or wrong_day:
            self.use.day, self.use.day_bytes = day, 0
        if day[:7] > self.use.month or wrong_day or wrong_month:
            self.use.month, self.use.month_bytes = day[:7], 0

    # --- deciding -------------------------------------------------------------------------------
    def left(self) -> dict[str, int | None]:
        """Bytes left today and this month (None: that period has no limit)."""
        with self._lock:
            self._pings()
            self._roll()
            u, c = self.use, self.cfg
            return {
                "day": max(c.day_bytes - u.day_bytes, 0) if c.day_bytes else None,
                "month": max(c.month_bytes - u.month_bytes, 0) if c.month_bytes else None,
            }

    def _limits(self) -> dict[str, int]:
        return {"day": self.cfg.day_bytes, "month": self.cfg.month_bytes}

    def low(self) -> str | None:
        """The period under LOW_SHARE of its budget ("day" or "month"), else None: thin what is made now."""
        if not self.enabled:
            return None
        left, limits = self.left(), self._limits()
        return next((p for p, n in left.items() if n is not None and n < LOW_SHARE * limits[p]), None)

    def answer_room(self) -> int | None:
        """What an answer to support may take now: all that is left, the reserve included."""
        if not self.enabled:
            return None
        return min(n for n in self.left().values() if n is not None)

    def defer(self, size: int) -> tuple[float, str] | None:
        """When a medium or low report of SIZE bytes may go, and the period that is spent; None: now."""
        if not self.enabled:
            return None
        left = self.left()
        limits = self._limits()
        need = on_wire(size, 1)
        short = [p for p, n in left.items() if n is not None and n - round(RESERVE * limits[p]) < need]
        if not short:
            return None
        month_short = "month" in short
        local = self._local()
        if month_short:
            start = (local.replace(day=1) + timedelta(days=32)).replace(
                day=1, hour=0, minute=0, second=0, microsecond=0
            )
        else:
            start = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return start.timestamp() + self._rng() * SPREAD_S, "month" if month_short else "day"

    def never_fits(self, size: int) -> bool:
        """A report of SIZE bytes is larger than the room of a whole new day or month: waiting cannot help."""
        whole = [(1 - RESERVE) * n for n in self._limits().values() if n]
        return bool(whole) and on_wire(size, 1) > min(whole)

    # --- the file -------------------------------------------------------------------------------
    def _local(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), self._zone)

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        if not self._unsaved:
            return
        try:
            self._file.save(asdict(self.use))
            self._saved_at, self._unsaved = self._clock(), 0
        except OSError as exc:  # a full disk: the counts stay in memory, saved again with the next report
            log.error("data budget: the counts cannot be saved (%s)", exc.strerror or exc)


DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})?$")
MONTH = re.compile(r"^(\d{4}-\d{2})?$")
MAX_COUNT = 2**53  # bytes: more than any link carries; a larger or non-finite count is a damaged file


def _valid(data: dict) -> bool:
    """A saved count of the right shape: dates as the budget writes them, counts whole, finite and not negative.
    (A date ahead of the clock is the clock's question: Budget._roll ends such a count.)"""
    counts = [data.get("day_bytes", 0), data.get("month_bytes", 0)]
    dates = DAY.match(str(data.get("day", ""))) and MONTH.match(str(data.get("month", "")))
    return bool(dates) and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < MAX_COUNT for n in counts)


def budget_of(cfg) -> Budget:
    """The box's budget from its configuration, over its state folder."""
    from agent.paths import state_path

    return Budget(cfg.backend.data_budget, Path(state_path(cfg.state_dir, "data_budget")), cfg.timezone)


@dataclass(frozen=True)
class Thrift:
    """What the budget asks of one report as it is made: at most CAP bytes (None: the report's own cap), THIN
    its history (history.Frozen: 2**thin, 2**merge), and WHY, in the manifest's cuts."""

    cap: int | None
    thin: tuple[int, int] | None
    why: str


ANSWER_FLOOR = 16 << 10  # an answer to support is never cut below this: the manifest, summary and page


def thrift(budget: Budget | None, urgent: bool, answer: bool) -> Thrift | None:
    """The budget's word on a report being made: none for an urgent one; an answer to support fits what is
    left; a medium or low one is thinned while the day's or the month's budget is low."""
    if budget is None or not budget.enabled or urgent:
        return None
    if answer:
        left = budget.answer_room() or 0
        return Thrift(max(left, ANSWER_FLOOR), None, f"the data budget: {left} bytes left")
    low = budget.low()
    if low is None:
        return None
    return Thrift(None, THIN, f"the data budget: under {LOW_SHARE:.0%} of this {low}'s left")


def budget_status(budget: Budget | None, entries: list) -> dict | None:
    """For the status, the CLI and the page: use and limit of each period, what is thinned, the reports it
    thinned and those that wait for it."""
    if budget is None or not budget.enabled:
        return None
    left = budget.left()
    u = budget.use
    c = budget.cfg
    view: dict[str, Any] = {
        "day": {"used": u.day_bytes, "limit": c.day_bytes or None, "left": left["day"]},
        "month": {"used": u.month_bytes, "limit": c.month_bytes or None, "left": left["month"]},
        "thinning": budget.low(),
    }
    waiting = [e for e in entries if not e.delivered and e.extra.get("deferred")]
    view["deferred"] = [{"report_id": e.report_id, **e.extra["deferred"]} for e in waiting]
    view["thinned"] = sum(1 for e in entries if e.extra.get("thinned"))
    return view
