"""The collect stage: one typed, immutable look at the box, made in one place, read by everything after it.

The devices' state and readings (from the poller), the health facts (from agent/health), the active faults,
the timeline, the history frozen for a report, the flight recorder's part, the outbox's counts and the MQTT
link's state: all facts, never verdicts. The judge (agent/watch) reads a Box and gives its verdicts, which
the looker stores in `checks`; report sections, the status, the page and the CLI read the Box and those
verdicts, and nothing after this stage collects or judges again.

The flow of one look: devices/poller.py -> snapshot() (DeviceState each) -> service/status.py look() (or
one_shot() here, without a daemon) -> Box -> watch/checks.py judged() -> report/build.py, status, page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# A device whose profile reads any of these measures the mains; one with a vehicle state is a charge
# controller whose charging can be judged. Capabilities of the profile, as evcc's optional interfaces are.
MAINS_VALUES = ("voltage_l1", "voltage_l2", "voltage_l3", "frequency")


@dataclass(frozen=True)
class Reading:
    """One value as last read: its value, unit, age at the look, wall time read, and a label for an enum."""

    value: Any
    unit: str
    age_s: float
    time: float
    label: str | None = None

    def to_dict(self) -> dict:
        out = {"value": self.value, "unit": self.unit, "age_s": self.age_s, "time": self.time}
        return out if self.label is None else dict(out, label=self.label)


@dataclass(frozen=True)
class DeviceState:
    """A device at the look: who it is, whether it answered this cycle and why not, and what it read."""

    name: str
    model: str
    kind: str  # meter | charge_controller
    profile: str
    unit: int
    bus: str
    reachable: bool  # heard this cycle (an exception is an answer too: the device is there)
    consecutive_failures: int
    last_error: str | None
    answer: str | None  # why it failed, as the wire said: timeout, gateway, connection, port, noise
    offers: frozenset[str]  # the values its profile reads
    values: Mapping[str, Reading] = field(default_factory=dict)
    unsupported: Mapping[str, str] = field(default_factory=dict)  # value -> why this device does not offer it
    value_errors: Mapping[str, str] = field(default_factory=dict)
    noise: int = 0
    busy_answers: int = 0
    iec_state: str | None = None  # the vehicle state as IEC 61851 names it (A-F), for a charge controller
    vehicle_states: Mapping[int, str] = field(default_factory=dict)  # the register's values as IEC letters

    def value(self, name: str) -> Any:
        reading = self.values.get(name)
        return reading.value if reading else None

    @property
    def measures_mains(self) -> bool:
        return any(n in self.offers for n in MAINS_VALUES)

    @property
    def has_vehicle_state(self) -> bool:
        return "vehicle_state" in self.offers

    def to_dict(self) -> dict:
        """As the report's readings section and the status carry it."""
        return {
            "model": self.model,
            "kind": self.kind,
            "profile": self.profile,
            "unit": self.unit,
            "bus": self.bus,
            "reachable": self.reachable,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "answer": self.answer,
            "unsupported": dict(self.unsupported),
            "noise": self.noise,
            "busy_answers": self.busy_answers,
            "value_errors": dict(self.value_errors),
            "iec_state": self.iec_state,
            "vehicle_states": {str(k): v for k, v in self.vehicle_states.items()},
            "measures_mains": self.measures_mains,
            "has_vehicle_state": self.has_vehicle_state,
            "values": {name: r.to_dict() for name, r in self.values.items()},
        }


def frozen(mapping: Mapping) -> dict:
    """A copy of MAPPING for a look: the part's own dict goes on changing, the look's never does. (A plain
    dict, not a read-only proxy: reports deep-copy their sections, and a proxy cannot be copied.)"""
    return dict(mapping)


@dataclass(frozen=True)
class Box:
    """Everything the box knows at one moment; see the module's docstring for who fills and who reads it."""

    devices: Mapping[str, DeviceState]
    health: dict  # hooks, system, network, software (agent.health.collect_health): facts
    faults: tuple[dict, ...] = ()  # active faults
    timeline: tuple[dict, ...] = ()
    history: object = field(default_factory=dict)  # the history frozen for a report (devices/history.Frozen), or {}
    buses: Mapping[str, dict] = field(default_factory=dict)
    outbox: Mapping[str, int] | None = None  # report counts by state
    mqtt_connected: bool | None = None  # None: no daemon runs (the health probe says)
    mqtt_not_authorized: bool = False  # the broker refused the box's credentials
    mqtt_problem: str | None = None  # why the broker connection last failed, in words
    agent_log: tuple[str, ...] = ()
    recorder: Mapping[str, Any] = field(default_factory=dict)  # the flight recorder's: last stop, fault windows
    scans: Mapping[str, dict] | None = None  # for the self-check: other unit ids that answer where one is silent
    checks: Mapping[str, Any] | None = None  # the judge's verdicts on this look (watch/checks.py judged()) ...
    verdicts: Mapping[str, dict] | None = None  # ... and its words for the network and the software

    @property
    def readings(self) -> dict[str, dict]:
        return {name: d.to_dict() for name, d in self.devices.items()}

    def but(self, **changes) -> Box:
        """This look with CHANGES (a frozen Box is never changed in place)."""
        return replace(self, **changes)
