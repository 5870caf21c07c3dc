"""Poll the configured Modbus devices and keep their latest decoded values."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from agent.collect.registers import DecodeError, ReadRequest, decode, plan_reads, slice_for
from agent.config import AgentConfig, ConfigError, DeviceConfig
from agent.modbus_link import ModbusError, ModbusLink
from agent.profiles import Profile, load_profile
from agent.schema import error_at

log = logging.getLogger(__name__)

# Slow values (energies, firmware) are read on every Nth cycle.
SLOW_EVERY = 12


@dataclass
class Reading:
    value: Any
    unit: str
    mono: float
    wall: float
    label: str | None = None


@dataclass
class Device:
    config: DeviceConfig
    profile: Profile
    link: ModbusLink
    plans: dict[str, list[ReadRequest]]
    readings: dict[str, Reading] = field(default_factory=dict)
    value_errors: dict[str, str] = field(default_factory=dict)
    failures: int = 0
    last_error: str | None = None
    last_ok_mono: float | None = None
    polled_once: bool = False


def open_devices(cfg: AgentConfig) -> list[Device]:
    """Load each device's profile and plan its reads; a broken profile raises ConfigError."""
    links = {bus.name: ModbusLink(bus) for bus in cfg.buses}
    devices = []
    for dc in cfg.devices:
        try:
            profile = load_profile(cfg.profiles_dir, dc.profile)
        except ConfigError as exc:
            if exc.problem == "file not found":
                raise error_at(dc, "profile", f"no profile {dc.profile!r} in {cfg.profiles_dir}") from None
            raise
        plans = {
            cls: plan_reads(profile, [n for n, s in profile.values.items() if s.poll == cls])
            for cls in ("fast", "slow", "once")
        }
        devices.append(Device(dc, profile, links[dc.bus], plans))
    return devices


class ModbusPoller:
    """Reads every device in turn; a failing device is recorded, never fatal."""

    def __init__(self, devices: list[Device], clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.devices = devices
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self.cycles = 0

    def poll_once(self) -> None:
        for dev in self.devices:
            classes = ["fast"]
            if self.cycles % SLOW_EVERY == 0:
                classes.append("slow")
            if not dev.polled_once:
                classes.append("once")
            self._poll_device(dev, [r for c in classes for r in dev.plans[c]])
        self.cycles += 1

    def _poll_device(self, dev: Device, requests: list[ReadRequest]) -> None:
        pause = dev.profile.pause_ms / 1000.0
        for i, req in enumerate(requests):
            if i and pause:
                time.sleep(pause)
            try:
                registers = dev.link.read(dev.config.unit, req.function, req.address, req.count)
            except ModbusError as exc:
                self._failed(dev, str(exc))
                return
            now_mono, now_wall = self._clock(), self._wall()
            with self._lock:
                for name in req.values:
                    spec = dev.profile.values[name]
                    try:
                        value = decode(spec, slice_for(req, spec, registers))
                    except DecodeError as exc:
                        dev.value_errors[name] = str(exc)
                        continue
                    dev.value_errors.pop(name, None)
                    label = spec.enum.get(value) if spec.enum else None
                    dev.readings[name] = Reading(value, spec.unit, now_mono, now_wall, label)
        with self._lock:
            if dev.failures:
                log.info("device %s answers again", dev.config.name)
            dev.failures, dev.last_error = 0, None
            dev.last_ok_mono = self._clock()
            dev.polled_once = True

    def _failed(self, dev: Device, error: str) -> None:
        with self._lock:
            dev.failures += 1
            if dev.failures == 1 or dev.last_error != error:
                log.warning("device %s: %s", dev.config.name, error)
            dev.last_error = error

    def snapshot(self) -> dict[str, Any]:
        """The current values by device and value name, each with unit and age."""
        now = self._clock()
        out: dict[str, Any] = {}
        with self._lock:
            for dev in self.devices:
                values = {}
                for name, r in dev.readings.items():
                    values[name] = {"value": r.value, "unit": r.unit, "age_s": round(now - r.mono, 3),
                                    "time": r.wall}
                    if r.label is not None:
                        values[name]["label"] = r.label
                out[dev.config.name] = {
                    "model": dev.profile.model,
                    "profile": dev.config.profile,
                    "unit": dev.config.unit,
                    "reachable": dev.failures == 0 and dev.polled_once,
                    "consecutive_failures": dev.failures,
                    "last_error": dev.last_error,
                    "value_errors": dict(dev.value_errors),
                    "values": values,
                }
        return out

    def close(self) -> None:
        for link in {id(d.link): d.link for d in self.devices}.values():
            link.close()
