"""Devices: does each answer; for those that measure the mains, the supply; for charge controllers, charging."""

from __future__ import annotations

from collections.abc import Mapping

from agent.collect import DeviceState
from agent.config import FaultConfig
from agent.vocab import Status
from agent.watch.judge.verdict import Judgement

PHASES = (1, 2, 3)


# --- devices ---------------------------------------------------------------------------------
def judge_devices(
    devices: Mapping[str, DeviceState], c: FaultConfig, scans: Mapping[str, dict] | None = None
) -> list[Judgement]:
    """Each device: does it answer; for devices that measure the mains, the supply; for charge
    controllers, charging. SCANS (devices/scan.py): which other unit ids answer on a bus."""
    out: list[Judgement] = []
    currents = [
        v for d in devices.values() if d.reachable for n in PHASES if (v := d.value(f"current_l{n}")) is not None
    ]
    for name, dev in devices.items():
        out.append(_reachability(name, dev, c, (scans or {}).get(dev.bus)))
        if dev.measures_mains:
            out += _grid(name, dev, c)
        if dev.has_vehicle_state:
            out.append(_charging(name, dev, c, currents))
    return out


# Why a device was not heard, as the wire said it (devices/modbus.py), and which hint explains it.
ANSWER_HINTS = {
    "timeout": Status.FAIL,
    "gateway": "gateway",
    "connection": "connection",
    "port": "port",
    "noise": "noise",
}


def _reachability(name: str, dev: DeviceState, c: FaultConfig, scan: dict | None = None) -> Judgement:
    where = f"{dev.model}, unit {dev.unit}"
    if dev.reachable and not dev.values:  # it answers, but with none of its profile's values
        return Judgement(
            "device",
            name,
            Status.FAIL,
            f"{where}: answers, but none of this model's values",
            variant="wrong_profile",
            fill={"unit": dev.unit, "profile": dev.profile},
        )
    if dev.reachable:
        missing = dev.unsupported
        detail = where + (f"; not offered by this device: {', '.join(sorted(missing))}" if missing else "")
        return Judgement("device", name, Status.PASS, detail)
    failures = dev.consecutive_failures
    fault = "device_unreachable" if failures >= c.unreachable_after_cycles else None
    detail = f"{where}: {dev.last_error or 'no answer yet'}"
    if fault:
        detail = f"{dev.model} (unit {dev.unit}) has not answered for {failures} cycles: {dev.last_error}"
    variant = ANSWER_HINTS.get(dev.answer or "", Status.FAIL)
    fill = dict[str, object](unit=dev.unit, device=name, model=dev.model, cycles=failures)
    others = [f for f in (scan or {}).get("found", []) if f["unit"] != dev.unit]
    fitting = [f for f in others if any(p["profile"] == dev.profile for p in f["fits"])]
    if fitting and variant in (Status.FAIL, "gateway"):  # silent here, but another unit answers: a wrong unit id?
        variant = "wrong_unit"
        fill["others"] = ", ".join(f"unit {f['unit']} ({dev.model})" for f in fitting[:3])
    return Judgement("device", name, Status.FAIL, detail, fault, variant, fill)


def _grid(name: str, dev: DeviceState, c: FaultConfig) -> list[Judgement]:
    phases = PHASES[: c.supply_phases]  # a single-phase supply has no L2 and L3 to lose
    volts = {n: v for n in phases if (v := dev.value(f"voltage_l{n}")) is not None} if dev.reachable else {}
    freq = dev.value("frequency") if dev.reachable else None
    if not volts and freq is None:
        why = "the device does not answer" if not dev.reachable else "no plausible voltage or frequency reading"
        return [Judgement("grid", name, Status.NO_DATA, f"no reading from {name}: {why}")]
    found = []
    lost = [n for n, v in volts.items() if v < c.lost_phase_below_v]
    if lost and len(lost) < len(volts):
        named = ", ".join(f"L{n}" for n in lost)
        found.append(
            Judgement("grid", name, Status.FAIL, f"phase {named} has no voltage", "phase_lost", fill={"phases": named})
        )
    bad = [f"L{n} {v:g} V" for n, v in volts.items() if n not in lost and not c.voltage_min_v <= v <= c.voltage_max_v]
    if bad:
        found.append(
            Judgement(
                "grid",
                name,
                Status.WARN,
                f"voltage outside {c.voltage_min_v:g}-{c.voltage_max_v:g} V: {', '.join(bad)}",
                "voltage_out_of_band",
                fill={"low": f"{c.voltage_min_v:g}", "high": f"{c.voltage_max_v:g}", "values": ", ".join(bad)},
            )
        )
    if freq is not None and not c.frequency_min_hz <= freq <= c.frequency_max_hz:
        found.append(
            Judgement(
                "grid",
                name,
                Status.WARN,
                f"frequency {freq:g} Hz outside {c.frequency_min_hz:g}-{c.frequency_max_hz:g} Hz",
                "frequency_out_of_band",
                fill={"frequency": f"{freq:g}", "low": f"{c.frequency_min_hz:g}", "high": f"{c.frequency_max_hz:g}"},
            )
        )
    return found or [Judgement("grid", name, Status.PASS, "in range")]


def _charging(name: str, dev: DeviceState, c: FaultConfig, currents: list[float]) -> Judgement:
    state = dev.iec_state
    if not dev.reachable or state is None:
        return Judgement("charging", name, Status.NO_DATA, f"no vehicle state from {name}")
    if state in ("E", "F"):
        return Judgement(
            "charging",
            name,
            Status.FAIL,
            f"vehicle state {state} (failure, e.g. diode check or RCD): the box cannot charge",
            "vehicle_failure",
            fill={"state": state},
        )
    # Current should flow only where the car asks for it (C, or D with ventilation) and the controller
    # offers at least the minimum; in state B the car may rest (battery full, charging scheduled).
    offered = dev.value("actual_current")
    offered = dev.value("configured_current") if offered is None else offered
    should_flow = state in ("C", "D") and offered is not None and offered >= c.charging_enabled_min_a
    if should_flow and not currents:  # current should flow, and nothing measures it: unjudged, never ok
        return Judgement(
            "charging",
            name,
            Status.NO_DATA,
            f"the car charges (state {state}) but no current reading comes in: the meter does not answer",
        )
    # Any current the meter resolves is charging, however little: a full car resting in state C draws
    # 0.3-0.45 A for battery conditioning. Only no current at all, with current offered, is a fault.
    if should_flow and max(currents) < c.no_current_below_a:
        return Judgement(
            "charging",
            name,
            Status.FAIL,
            f"the car asks to charge (state {state}), charging enabled "
            f"at {offered:g} A, but the meter measures no current (at most {max(currents):.2f} A "
            f"on any phase, below {c.no_current_below_a:g} A)",
            "cannot_charge",
            fill={"state": state, "offered": f"{offered:g}", "most": f"{max(currents):.2f}"},
        )
    return Judgement("charging", name, Status.PASS, f"no charging fault (vehicle state {state})")


def judge_scan(configured: list, scan: dict) -> list[Judgement]:
    """What a bus scan (devices/scan.py) says of each device CONFIGURED on its bus: it answers and its
    profile fits; it answers, but as something else (a wrong profile); or it is silent, perhaps because
    another unit id answers as its profile (a wrong unit id)."""
    by_unit = {f["unit"]: f for f in scan["found"]}
    out = []
    for dev in (d for d in configured if d.bus == scan["bus"]):
        found = by_unit.get(dev.unit)
        fill = {"unit": dev.unit, "profile": dev.profile}
        if found is None:
            fitting = [f["unit"] for f in scan["found"] if any(p["profile"] == dev.profile for p in f["fits"])]
            detail = "does not answer"
            if fitting:
                fill["others"] = ", ".join(map(str, fitting))
                detail += f"; unit {fill['others']} answers as a {dev.profile}: a wrong unit id?"
            out.append(
                Judgement("scan", dev.name, Status.FAIL, detail, variant="wrong_unit" if fitting else None, fill=fill)
            )
        elif any(p["profile"] == dev.profile for p in found["fits"]):
            out.append(Judgement("scan", dev.name, Status.PASS, "answers, and its profile fits", fill=fill))
        else:
            out.append(
                Judgement(
                    "scan",
                    dev.name,
                    Status.FAIL,
                    f"answers, but not as a {dev.profile}: a wrong profile?",
                    variant="wrong_profile",
                    fill=fill,
                )
            )
    return out
