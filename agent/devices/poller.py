"""Poll the configured Modbus devices within each bus's time budget; keep values and their history."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.clock import wall as wall_clock
from agent.collect import DeviceState, Reading, frozen
from agent.config import AgentConfig, BusConfig, ConfigError, DeviceConfig
from agent.devices.history import History, HistoryConfig
from agent.devices.modbus import ModbusError, ModbusLink
from agent.devices.planner import (
    DecodeError,
    ReadRequest,
    bus_ms,
    decode,
    plan_reads,
    slice_for,
)
from agent.devices.profiles import Profile, load_profile
from agent.devices.reading import Outcome, PlanReader
from agent.retry import backoff
from agent.schema import error_at

log = logging.getLogger(__name__)

# Slow values (energies, harmonics, firmware) are read on every Nth cycle at least, more
# seldom when the bus budget needs it.
SLOW_EVERY = 12
CYCLES = ("fast", "slow", "all")  # what a cycle reads: fast; fast + slow; everything incl. once
RECHECK_S = 3600.0  # values found unsupported are tried again this often (a firmware update may add them)
ONCE_RETRY_S, ONCE_RETRY_MAX_S = 60.0, 3600.0  # a "once" value that failed: retried with backoff


@dataclass
class Held:
    """A value as the poller holds it between polls (monotonic and wall time it was read)."""

    value: Any
    unit: str
    mono: float
    wall: float
    label: str | None = None


@dataclass
class Device:
    config: DeviceConfig
    profile: Profile
    plans: dict[str, list[ReadRequest]]
    readings: dict[str, Held] = field(default_factory=dict)
    value_errors: dict[str, str] = field(default_factory=dict)
    failures: int = 0  # consecutive cycles in which the device was not heard at all
    last_error: str | None = None
    last_kind: str | None = None  # what the wire said last time it failed: timeout, gateway, noise, ...
    answered: bool = False  # heard at least once since the agent started
    unsupported: dict[str, str] = field(default_factory=dict)  # value -> why (not offered by this device)
    recheck_at: float = 0.0  # when to forget what was found unsupported and plan afresh
    once_due: float = 0.0  # when to read the "once" values (again)
    once_failures: int = 0  # full cycles in a row that left a "once" value unread
    noise: int = 0  # garbled replies since start
    busy_answers: int = 0  # exception 6 answers since start

    @property
    def name(self) -> str:
        return self.config.name

    def once_done(self, now: float) -> None:
        """After a full cycle: the "once" values are read for good, or tried again with backoff."""
        missing = [
            n
            for n, s in self.profile.values.items()
            if s.poll == "once" and n not in self.readings and n not in self.unsupported
        ]
        if not missing:
            self.once_due = math.inf
            return
        self.once_failures += 1
        self.once_due = now + backoff(self.once_failures, ONCE_RETRY_S, ONCE_RETRY_MAX_S)

    def learn(self, out: Outcome, baudrate: int, now: float) -> None:
        """Plan around what the device does not offer, and read refused blocks in the parts that worked."""
        for name, why in out.unsupported.items():
            if name not in self.unsupported:
                log.info("device %s: %s is %s; read around it", self.name, name, why)
            self.unsupported[name] = why
            self.value_errors.pop(name, None)
        self.recheck_at = now + RECHECK_S
        self.replan(baudrate, now)
        for key, leaves in out.replaced.items():
            for cycle, plan in self.plans.items():
                self.plans[cycle] = [
                    x for r in plan for x in (leaves if (r.function, r.address, r.count) == key else [r])
                ]

    def replan(self, baudrate: int, now: float, forget: bool = False) -> None:
        """Plans without the unsupported values; FORGET tries them all again (a firmware update may add them)."""
        if forget:
            self.unsupported.clear()
            self.once_due = min(self.once_due, now)
        self.plans = _plans(self.profile, baudrate, set(self.unsupported))


@dataclass
class Bus:
    config: BusConfig
    link: ModbusLink
    devices: list[Device]
    slow_every: int = SLOW_EVERY
    budget_note: str | None = None  # set when the budget changes what is read
    busy_skips: int = 0
    bus_ms_last_cycle: float = 0.0


def _plans(profile: Profile, baudrate: int, skip: set[str] | frozenset = frozenset()) -> dict[str, list[ReadRequest]]:
    by_class = {
        c: [n for n, s in profile.values.items() if s.poll == c and n not in skip] for c in ("fast", "slow", "once")
    }
    return {
        "fast": plan_reads(profile, by_class["fast"], baudrate),
        "slow": plan_reads(profile, by_class["fast"] + by_class["slow"], baudrate),
        "all": plan_reads(profile, [n for n in profile.values if n not in skip], baudrate),
    }


def fit_budget(bus: Bus, interval_s: float) -> None:
    """Choose how often slow values are read so the bus stays within its budget, and say so."""
    cfg = bus.config
    if cfg.type != "rtu":
        return  # a TCP device has its own link; there is no shared bus time to ration
    fast = sum(bus_ms(d.plans["fast"], cfg.baudrate) for d in bus.devices)
    slow_extra = sum(bus_ms(d.plans["slow"], cfg.baudrate) for d in bus.devices) - fast
    budget = cfg.budget_percent / 100.0 * interval_s * 1000.0
    if fast >= budget:
        bus.slow_every = SLOW_EVERY * 10
        bus.budget_note = (
            f"over budget: fast values alone take {100 * fast / (interval_s * 1000):.1f} % of the "
            f"bus (budget {cfg.budget_percent:g} %); slow values every {bus.slow_every} cycles. "
            "Raise poll.interval_s or poll fewer values."
        )
    else:
        needed = math.ceil(slow_extra / (budget - fast)) if slow_extra > 0 else 1
        bus.slow_every = max(SLOW_EVERY, needed)
        if bus.slow_every > SLOW_EVERY:
            bus.budget_note = (
                f"slow values every {bus.slow_every} cycles instead of {SLOW_EVERY}, to stay "
                f"within {cfg.budget_percent:g} % of the bus"
            )


def open_buses(cfg: AgentConfig) -> list[Bus]:
    """Load each device's profile and plan its reads; a broken profile raises ConfigError."""
    buses = {b.name: Bus(b, ModbusLink(b), []) for b in cfg.buses}
    for dc in cfg.devices:
        try:
            profile = load_profile(cfg.profiles_dir, dc.profile)
        except ConfigError as exc:
            if exc.problem == "file not found":
                raise error_at(dc, "profile", f"no profile {dc.profile!r} in {cfg.profiles_dir}") from None
            raise
        bus = buses[dc.bus]
        bus.devices.append(Device(dc, profile, _plans(profile, bus.config.baudrate)))
    for bus in buses.values():
        fit_budget(bus, cfg.poll.interval_s)
    return [b for b in buses.values() if b.devices]


class ModbusPoller:
    """Reads every device in turn; a failing device is recorded, never fatal."""

    def __init__(
        self,
        buses: list[Bus],
        interval_s: float = 5.0,
        history: History | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = wall_clock,
    ):
        self.buses = buses
        self.interval_s = interval_s
        if history is not None:  # the units for reports and the recorder's windows
            history.units = {(d.name, n): s.unit for d in self.devices for n, s in d.profile.values.items()}
        self.history = history
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self.cycles = 0

    @classmethod
    def from_config(cls, cfg: AgentConfig, with_history: bool = False, **kw) -> ModbusPoller:
        history = None
        if with_history:
            history = History(HistoryConfig(bucket_s=cfg.history.bucket_s, window_s=cfg.history.window_h * 3600))
        return cls(open_buses(cfg), cfg.poll.interval_s, history, **kw)

    @property
    def devices(self) -> list[Device]:
        return [d for b in self.buses for d in b.devices]

    def poll_once(self) -> None:
        for bus in self.buses:
            used = 0.0
            for dev in bus.devices:
                now = self._clock()
                if dev.unsupported and now >= dev.recheck_at:
                    with self._lock:
                        dev.replan(bus.config.baudrate, now, forget=True)
                cycle = "fast"
                if now >= dev.once_due:
                    cycle = "all"
                elif self.cycles % bus.slow_every == 0:
                    cycle = "slow"
                # A plan left empty (all its values unsupported) reads nothing, and nothing failed.
                used += self._poll_device(bus, dev, cycle) if dev.plans[cycle] else 0.0
            bus.bus_ms_last_cycle = used
        self.cycles += 1

    def _poll_device(self, bus: Bus, dev: Device, cycle: str) -> float:
        """Run DEVICE's plan for CYCLE; return the bus time of the frames that were answered."""
        reader = PlanReader(
            bus.link,
            dev.config.unit,
            dev.profile,
            bus.config.baudrate,
            lambda req, regs: self._store(bus, dev, req, regs),
            lambda name, why: self._value_error(dev, name, why),
        )
        out = reader.read(dev.plans[cycle])
        if out.bus_busy:
            bus.busy_skips += 1
            log.info("%s; %s skipped this cycle", out.bus_busy, dev.name)
            return out.used_ms
        with self._lock:
            dev.noise += int(out.noise is not None)
            dev.busy_answers += out.busy_answers
        if out.unsupported or out.replaced:
            with self._lock:
                dev.learn(out, bus.config.baudrate, self._clock())
        if not out.answered:
            self._failed(dev, out.silent or out.noise or ModbusError("no answer"))
            return out.used_ms
        with self._lock:
            if dev.failures:
                log.info("device %s answers again after %d failed cycles", dev.name, dev.failures)
            dev.failures = 0
            dev.last_error = None
            dev.last_kind = None
            dev.answered = True
        if cycle == "all":
            dev.once_done(self._clock())
        return out.used_ms

    def _value_error(self, dev: Device, name: str, why: str) -> None:
        with self._lock:
            if dev.value_errors.get(name) != why:
                log.warning("device %s: %s: %s", dev.name, name, why)
            dev.value_errors[name] = why

    def _store(self, bus: Bus, dev: Device, req: ReadRequest, registers: list[int]) -> None:
        now_mono, now_wall = self._clock(), self._wall()
        with self._lock:
            for name in req.values:
                spec = dev.profile.values[name]
                try:
                    value = decode(spec, slice_for(req, spec, registers))
                except DecodeError as exc:
                    if dev.value_errors.get(name) is None:
                        log.warning("device %s: %s: %s", dev.name, name, exc)
                    dev.value_errors[name] = str(exc)
                    continue
                dev.value_errors.pop(name, None)
                label = spec.enum.get(value) if spec.enum and isinstance(value, int) else None
                dev.readings[name] = Held(value, spec.unit, now_mono, now_wall, label)
                if self.history is not None and spec.poll != "once" and isinstance(value, (int, float)):
                    period = self.interval_s * (bus.slow_every if spec.poll == "slow" else 1)
                    self.history.add(dev.name, name, value, now_mono, now_wall, period)

    def _failed(self, dev: Device, error: ModbusError) -> None:
        with self._lock:
            dev.failures += 1
            if dev.failures == 1 or dev.last_error != str(error):
                log.warning("device %s: %s", dev.name, error)
            dev.last_error, dev.last_kind = str(error), error.kind

    def snapshot(self) -> dict[str, DeviceState]:
        """Each device as it stands now (agent/collect): its state, and its values with unit and age."""
        now = self._clock()
        with self._lock:
            return {dev.name: _state(dev, now) for dev in self.devices}

    def bus_status(self) -> dict[str, Any]:
        return {
            b.config.name: {
                "slow_every": b.slow_every,
                "budget_note": b.budget_note,
                "bus_ms_last_cycle": round(b.bus_ms_last_cycle, 1),
                "busy_skips": b.busy_skips,
            }
            for b in self.buses
        }

    def close(self) -> None:
        for bus in self.buses:
            bus.link.release()


def _state(dev: Device, now: float) -> DeviceState:
    values = {
        name: Reading(r.value, r.unit, round(now - r.mono, 3), r.wall, r.label) for name, r in dev.readings.items()
    }
    state = dev.readings.get("vehicle_state")
    return DeviceState(
        name=dev.name,
        model=dev.profile.model,
        kind=dev.profile.kind,
        profile=dev.config.profile,
        unit=dev.config.unit,
        bus=dev.config.bus,
        reachable=dev.failures == 0 and (bool(dev.readings) or dev.answered),
        consecutive_failures=dev.failures,
        last_error=dev.last_error,
        answer=dev.last_kind,
        offers=frozenset(dev.profile.values),
        values=frozen(values),
        unsupported=frozen(dev.unsupported),
        value_errors=frozen(dev.value_errors),
        noise=dev.noise,
        busy_answers=dev.busy_answers,
        iec_state=dev.profile.vehicle_states.get(state.value) if state else None,
        vehicle_states=frozen(dev.profile.vehicle_states),
    )
