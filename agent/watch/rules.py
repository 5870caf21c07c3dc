"""The fault rules as one table: which judgement (watch/judge.py) is evidence for each fault, how severe it
is, its category, how long it must hold before it is raised and be gone before it clears, and which hint
of the self-check explains it to a person (agent/lang/, under the check's id).

The monitor (watch/faults.py) applies the table; the judge decides the conditions; nothing else decides
either. A hold of None is no wait: counted in poll cycles already (an unreachable device), an event in
itself (a firmware change) or sampled once a minute (the box's health).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent.config import FaultConfig
from agent.vocab import FaultCategory as Cat
from agent.vocab import FaultCode as Code
from agent.vocab import Place
from agent.vocab import Severity as Sev


@dataclass(frozen=True)
class Rule:
    code: Code
    severity: Sev
    category: Cat
    scope: Scope  # run after every poll, or after every health snapshot
    condition: str  # the judge's topic whose judgement names this fault
    hold: str | None  # the FaultConfig field: how long the condition holds before the fault is raised
    clear: str | None  # the FaultConfig field: how long it is gone before the fault clears
    hint: str  # the self-check's entry whose words explain it (agent/lang/)
    place: Place | None  # where the fault is (watch/judge/locate.py); None: advice, not a place to look

    def raise_after(self, c: FaultConfig) -> float:
        return float(getattr(c, self.hold)) if self.hold else 0.0

    def clear_after(self, c: FaultConfig) -> float:
        return float(getattr(c, self.clear)) if self.clear else 0.0

    def category_for(self, kind: str | None) -> Cat:
        """A silent charge controller is a charging problem: without it nothing charges. A box with a silent
        meter still can, so that stays communication."""
        if self.code is Code.DEVICE_UNREACHABLE and kind == "charge_controller":
            return Cat.CHARGING
        return self.category


Scope = Literal["device", "health"]
_D: Scope = "device"
_H: Scope = "health"
_HOLD, _CLEAR = "raise_after_s", "clear_after_s"
_P, _CANNOT = Place, "cannot_charge_after_s"
RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule(Code.DEVICE_UNREACHABLE, Sev.ERROR, Cat.COMMUNICATION, _D, "device", None, _CLEAR, "device", _P.BOX),
        Rule(Code.PHASE_LOST, Sev.ERROR, Cat.HARDWARE, _D, "grid", _HOLD, _CLEAR, "grid", _P.SUPPLY),
        Rule(Code.VOLTAGE_OUT_OF_BAND, Sev.WARNING, Cat.HARDWARE, _D, "grid", _HOLD, _CLEAR, "grid", _P.SUPPLY),
        Rule(Code.FREQUENCY_OUT_OF_BAND, Sev.WARNING, Cat.HARDWARE, _D, "grid", _HOLD, _CLEAR, "grid", _P.SUPPLY),
        Rule(Code.VEHICLE_FAILURE, Sev.CRITICAL, Cat.CHARGING, _D, "charging", _HOLD, _CLEAR, "charging", _P.CAR),
        Rule(Code.CANNOT_CHARGE, Sev.ERROR, Cat.CHARGING, _D, "charging", _CANNOT, _CLEAR, "charging", _P.BOX),
        Rule(Code.FIRMWARE_CHANGED, Sev.WARNING, Cat.HARDWARE, _D, "firmware", None, None, "software", _P.BOX),
        Rule(Code.DISK_ALMOST_FULL, Sev.ERROR, Cat.SYSTEM, _H, "disk", None, None, "disk", _P.BOX),
        Rule(Code.SOC_HOT, Sev.ERROR, Cat.HARDWARE, _H, "temperature", None, None, "temperature", _P.BOX),
        Rule(Code.UNDERVOLTAGE, Sev.ERROR, Cat.HARDWARE, _H, "power_supply", None, None, "power_supply", _P.BOX),
        Rule(Code.MEMORY_PRESSURE, Sev.WARNING, Cat.SYSTEM, _H, "memory", None, None, "memory", None),
        Rule(Code.CLOCK_NOT_SYNCED, Sev.WARNING, Cat.SYSTEM, _H, "clock", None, None, "clock", None),
        Rule(
            Code.NETWORK_NOT_FUNCTIONAL, Sev.ERROR, Cat.COMMUNICATION, _H, "network", None, None, "network", _P.NETWORK
        ),
        Rule(Code.SOFTWARE_OUTDATED, Sev.WARNING, Cat.SOFTWARE, _H, "software", None, None, "software", None),
        Rule(Code.HOOK_FAILING, Sev.WARNING, Cat.SOFTWARE, _H, "hook", None, None, "hooks", _P.BOX),
    )
}
