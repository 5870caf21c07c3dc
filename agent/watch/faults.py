"""The fault monitor: the judgements that name a fault (watch/judge.py) raised and cleared as the rule table
(watch/rules.py) says, with a debounce."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace

from agent.clock import wall as wall_clock
from agent.collect import DeviceState
from agent.config import FaultConfig, HealthConfig
from agent.paths import state_path
from agent.storage import StateFile
from agent.watch.judge import Judgement, judge_devices, judge_firmware, judge_health, judge_hooks
from agent.watch.rules import RULES
from agent.watch.timeline import Timeline

log = logging.getLogger(__name__)


@dataclass
class Fault:
    code: str
    device: str
    severity: str
    category: str
    message: str
    since_wall: float
    since_mono: float
    fill: dict = field(default_factory=dict)  # the judgement's values, for the message in a person's words


def _valid_versions(known: dict) -> bool:
    return all(isinstance(v, (str, int, float)) for v in known.values())


class FirmwareVersions:
    """The charge controllers' firmware versions, remembered across restarts (an update while the agent was
    down is noticed too), and when each last changed, in words: the facts the judge's firmware rule reads."""

    def __init__(self, state_dir: str | None, clock: Callable[[], float] = time.monotonic):
        self._file = StateFile(state_path(state_dir, "firmware_versions"), valid=_valid_versions) if state_dir else None
        self._known: dict[str, object] = self._file.load() if self._file else {}
        self._changed: dict[str, tuple[float, str]] = {}
        self._clock = clock

    def seen(self, name: str, version: object) -> tuple[float, str] | None:
        """VERSION read from device NAME now; (when, in words) of its last change, or None."""
        known = self._known.get(name)
        if known != version:
            if known is not None or version in (0, "", "0"):
                words = (
                    f"firmware version changed from {known} to {version}"
                    if known is not None
                    else (f"firmware version reads {version}")
                )
                self._changed[name] = (self._clock(), words)
            self._known[name] = version
            self._save()
        return self._changed.get(name)

    def _save(self) -> None:
        if self._file:
            try:
                self._file.save(self._known)
            except OSError as exc:
                log.warning("cannot save the known firmware versions: %s", exc)


class FaultMonitor:
    """Evaluates every rule after each poll; a condition must hold raise_after_s to raise a fault
    and be gone clear_after_s to clear it, so a flickering reading does not flap."""

    def __init__(
        self,
        cfg: FaultConfig,
        timeline: Timeline,
        state_dir: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = wall_clock,
        health: HealthConfig | None = None,
        on_raise: Callable[[Fault], None] | None = None,
        on_clear: Callable[[Fault], None] | None = None,
    ):
        self.cfg, self.timeline = cfg, timeline
        self.on_raise, self.on_clear = on_raise, on_clear
        self.health_cfg = health or HealthConfig()
        self._hook_failures: dict[str, int] = {}
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._true_since: dict[tuple[str, str], float] = {}
        self._false_since: dict[tuple[str, str], float] = {}
        self.active: dict[tuple[str, str], Fault] = {}
        self.firmware = FirmwareVersions(state_dir, clock)
        self._kinds: dict[str, str] = {}  # device name -> meter | charge_controller

    # --- conditions: the judgements that name a fault --------------------------------------------
    def health_conditions(self, health: dict) -> dict[tuple[str, str], Judgement]:
        """The box's own conditions from a health snapshot: {(code, "box" or hook name): judgement}."""
        for name, result in health["hooks"].items():
            self._hook_failures[name] = 0 if result.ok else self._hook_failures.get(name, 0) + 1
        judged = judge_health(health, self.health_cfg) + judge_hooks(
            health["hooks"], self._hook_failures, self.health_cfg
        )
        return {(j.fault, j.subject): j for j in judged if j.fault}

    def conditions(self, devices: Mapping[str, DeviceState]) -> dict[tuple[str, str], Judgement]:
        """Every device rule's condition that holds right now: {(code, device): judgement}."""
        found = {(j.fault, j.subject): j for j in judge_devices(devices, self.cfg) if j.fault}
        self._kinds = {name: dev.kind for name, dev in devices.items()}
        for name, dev in devices.items():
            if dev.reachable and dev.kind == "charge_controller" and "firmware_version" in dev.values:
                j = judge_firmware(
                    name, self.firmware.seen(name, dev.value("firmware_version")), self._clock(), self.cfg
                )
                if j.fault:
                    found[(j.fault, name)] = j
        return found

    # --- debounce (the hold and clear times are the rule table's) ---------------------------------
    def evaluate(self, devices: Mapping[str, DeviceState]) -> None:
        """Run the device rules on a poller snapshot."""
        self._apply(self.conditions(devices), "device")

    def evaluate_health(self, health: dict) -> None:
        """Run the health rules on a health snapshot."""
        self._apply(self.health_conditions(health), "health")

    def _apply(self, found: dict[tuple[str, str], Judgement], scope: str) -> None:
        now, told = self._clock(), []
        with self._lock:
            for key, j in found.items():
                self._false_since.pop(key, None)
                start = self._true_since.setdefault(key, now)
                if key in self.active:
                    self.active[key].message, self.active[key].fill = j.detail, dict(j.fill)
                elif now - start >= RULES[key[0]].raise_after(self.cfg):
                    told.append(self._raise(key, j.detail, now, fill=j.fill))
            for key in list(self._true_since):
                if key in found or (key[0] not in RULES or RULES[key[0]].scope != scope):
                    continue
                if key not in self.active:
                    del self._true_since[key]
                    continue
                gone = self._false_since.setdefault(key, now)
                if now - gone >= RULES[key[0]].clear_after(self.cfg):
                    told.append(self._clear(key))
        self._tell(told)

    def firmware_fault(self, code: str, message: str, severity: str = "error", category: str = "hardware") -> None:
        """A fault the firmware reports itself (`diag-agent event fault`): active until it clears it."""
        key = (code, "firmware")
        with self._lock:
            if key in self.active:
                self.active[key].message = message
                return
            self._true_since[key] = self._clock()
            told = [self._raise(key, message, self._clock(), severity=severity, category=category)]
        self._tell(told)

    def firmware_clear(self, code: str) -> bool:
        with self._lock:
            if (code, "firmware") not in self.active:
                return False
            told = [self._clear((code, "firmware"))]
        self._tell(told)
        return True

    def _raise(self, key: tuple[str, str], message: str, now: float, **how) -> tuple[str, Fault]:
        self.active[key] = self._fault(key, message, now, **how)
        return "raised", replace(self.active[key])

    def _fault(
        self,
        key: tuple[str, str],
        message: str,
        now: float,
        severity: str | None = None,
        category: str | None = None,
        fill: dict | None = None,
    ) -> Fault:
        """A fault as the rule table makes it (or as the firmware says it: SEVERITY, CATEGORY), with the values
        (FILL) of the judgement that named it."""
        code, device = key
        if severity is None:
            severity, category = RULES[code].severity, RULES[code].category_for(self._kinds.get(device))
        return Fault(code, device, severity, str(category), message, self._wall(), now, dict(fill or {}))

    def held_now(self, devices: Mapping[str, DeviceState], health: dict) -> list[dict]:
        """The faults whose conditions hold in this one look, without their hold times (watch/faults.held_now)."""
        found = {**self.conditions(devices), **self.health_conditions(health)}
        return [asdict(self._fault(key, j.detail, self._clock(), fill=j.fill)) for key, j in found.items()]

    def _clear(self, key: tuple[str, str]) -> tuple[str, Fault]:
        self._true_since.pop(key, None)
        self._false_since.pop(key, None)
        return "cleared", self.active.pop(key)

    def _tell(self, told: list[tuple[str, Fault]]) -> None:
        """The timeline, the log and the callbacks hear of each change after the lock is released: a
        callback that is slow (or asks for the active faults) never holds up polling or a reader."""
        for what, f in told:
            message = f.message if what == "raised" else f"cleared: {f.message}"
            self.timeline.add(what, f.code, message, device=f.device, severity=f.severity, category=f.category)
            if what == "raised":
                log.warning("fault raised: %s on %s: %s", f.code, f.device, f.message)
            else:
                log.info("fault cleared: %s on %s", f.code, f.device)
            callback = self.on_raise if what == "raised" else self.on_clear
            if callback:
                callback(f)

    def active_list(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in sorted(self.active.values(), key=lambda f: f.since_mono)]

    def has_active(self, code: str, device: str | None = None) -> bool:
        with self._lock:
            return any(k[0] == code and (device is None or k[1] == device) for k in self.active)


def held_now(cfg, box) -> tuple[dict, ...]:
    """With no daemon to watch over time (a one-shot `diag-agent check`), the faults whose conditions hold in this
    one look, as the monitor would list them: the one look is all the evidence there is."""
    return tuple(FaultMonitor(cfg.faults, Timeline(capacity=1), health=cfg.health).held_now(box.devices, box.health))
