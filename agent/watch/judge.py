"""The one judgement of every value and condition: ok, warn, fail or no data.

The fault rules (watch/faults.py) raise a fault where a judgement names one and holds; the self-check
(watch/checks.py), the page and report.html show the same judgements. No data is never ok: a meter that
does not answer leaves the mains supply unjudged, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agent.config import FaultConfig, HealthConfig

Status = Literal["ok", "warn", "fail", "no_data"]
RANK = {"ok": 0, "no_data": 1, "warn": 2, "fail": 3}
PHASES = (1, 2, 3)


@dataclass
class Judgement:
    topic: str  # device, grid, charging, disk, temperature, memory, clock, power_supply, network, software
    subject: str  # a device name, or "box"
    status: Status
    detail: str  # what was seen, in plain words
    fault: str | None = None  # the fault code this is evidence for (only where status is warn or fail)
    variant: str | None = None  # which hint explains it, when not the status itself
    fill: dict = field(default_factory=dict)  # the hint's placeholders


def worst(judgements: list[Judgement]) -> Status:
    return max((j.status for j in judgements), key=RANK.__getitem__, default="no_data")


def _value(dev: dict, name: str):
    v = dev["values"].get(name)
    return v["value"] if v else None


# --- devices ---------------------------------------------------------------------------------
def judge_devices(snapshot: dict, c: FaultConfig, scans: dict | None = None) -> list[Judgement]:
    """Each device: does it answer; for devices that measure the mains, the supply; for charge
    controllers, charging. SCANS (devices/scan.py): which other unit ids answer on a bus."""
    out: list[Judgement] = []
    currents = [v for d in snapshot.values() if d["reachable"] for n in PHASES
                if (v := _value(d, f"current_l{n}")) is not None]
    for name, dev in snapshot.items():
        out.append(_reachability(name, dev, c, (scans or {}).get(dev.get("bus"))))
        if dev.get("measures_mains"):
            out += _grid(name, dev, c)
        if dev.get("has_vehicle_state"):
            out.append(_charging(name, dev, c, currents))
    return out


# Why a device was not heard, as the wire said it (devices/modbus.py), and which hint explains it.
ANSWER_HINTS = {"timeout": "fail", "gateway": "gateway", "connection": "connection", "port": "port", "noise": "noise"}


def _reachability(name: str, dev: dict, c: FaultConfig, scan: dict | None = None) -> Judgement:
    where = f"{dev['model']}, unit {dev['unit']}"
    if dev["reachable"] and not dev["values"]:  # it answers, but with none of its profile's values
        return Judgement("device", name, "fail", f"{where}: answers, but none of this model's values",
                         variant="wrong_profile", fill={"unit": dev["unit"], "profile": dev.get("profile")})
    if dev["reachable"]:
        missing = dev.get("unsupported") or {}
        detail = where + (f"; not offered by this device: {', '.join(sorted(missing))}" if missing else "")
        return Judgement("device", name, "ok", detail)
    failures = dev["consecutive_failures"]
    fault = "device_unreachable" if failures >= c.unreachable_after_cycles else None
    detail = f"{where}: {dev['last_error'] or 'no answer yet'}"
    if fault:
        detail = (f"{dev['model']} (unit {dev['unit']}) has not answered for {failures} cycles: "
                  f"{dev['last_error']}")
    variant, fill = ANSWER_HINTS.get(dev.get("answer") or "", "fail"), {"unit": dev["unit"]}
    others = [f for f in (scan or {}).get("found", []) if f["unit"] != dev["unit"]]
    fitting = [f for f in others if any(p["profile"] == dev["profile"] for p in f["fits"])]
    if fitting and variant in ("fail", "gateway"):  # silent here, but another unit answers: a wrong unit id?
        variant = "wrong_unit"
        fill["others"] = ", ".join(f"unit {f['unit']} ({dev['model']})" for f in fitting[:3])
    return Judgement("device", name, "fail", detail, fault, variant, fill)


def _grid(name: str, dev: dict, c: FaultConfig) -> list[Judgement]:
    phases = PHASES[: c.supply_phases]  # a single-phase supply has no L2 and L3 to lose
    volts = {n: v for n in phases if (v := _value(dev, f"voltage_l{n}")) is not None} if dev["reachable"] else {}
    freq = _value(dev, "frequency") if dev["reachable"] else None
    if not volts and freq is None:
        why = "the device does not answer" if not dev["reachable"] else "no plausible voltage or frequency reading"
        return [Judgement("grid", name, "no_data", f"no reading from {name}: {why}")]
    found = []
    lost = [n for n, v in volts.items() if v < c.lost_phase_below_v]
    if lost and len(lost) < len(volts):
        found.append(Judgement("grid", name, "fail", "phase " + ", ".join(f"L{n}" for n in lost) + " has no voltage",
                               "phase_lost"))
    bad = [f"L{n} {v:g} V" for n, v in volts.items() if n not in lost and not c.voltage_min_v <= v <= c.voltage_max_v]
    if bad:
        found.append(Judgement("grid", name, "warn", f"voltage outside {c.voltage_min_v:g}-{c.voltage_max_v:g} V: "
                               f"{', '.join(bad)}", "voltage_out_of_band"))
    if freq is not None and not c.frequency_min_hz <= freq <= c.frequency_max_hz:
        found.append(Judgement("grid", name, "warn", f"frequency {freq:g} Hz outside "
                               f"{c.frequency_min_hz:g}-{c.frequency_max_hz:g} Hz", "frequency_out_of_band"))
    return found or [Judgement("grid", name, "ok", "in range")]


def _charging(name: str, dev: dict, c: FaultConfig, currents: list[float]) -> Judgement:
    state = dev.get("iec_state")
    if not dev["reachable"] or state is None:
        return Judgement("charging", name, "no_data", f"no vehicle state from {name}")
    if state in ("E", "F"):
        return Judgement("charging", name, "fail", f"vehicle state {state} (failure, e.g. diode check or RCD): "
                         "the box cannot charge", "vehicle_failure")
    # Current should flow only where the car asks for it (C, or D with ventilation) and the controller
    # offers at least the minimum; in state B the car may rest (battery full, charging scheduled).
    offered = _value(dev, "actual_current")
    offered = _value(dev, "configured_current") if offered is None else offered
    should_flow = state in ("C", "D") and offered is not None and offered >= c.charging_enabled_min_a
    if should_flow and not currents:  # current should flow, and nothing measures it: unjudged, never ok
        return Judgement("charging", name, "no_data", f"the car charges (state {state}) but no current reading "
                         "comes in: the meter does not answer")
    # Any current the meter resolves is charging, however little: a full car resting in state C draws
    # 0.3-0.45 A for battery conditioning. Only no current at all, with current offered, is a fault.
    if should_flow and max(currents) < c.no_current_below_a:
        return Judgement("charging", name, "fail", f"the car asks to charge (state {state}), charging enabled "
                         f"at {offered:g} A, but the meter measures no current (at most {max(currents):.2f} A "
                         f"on any phase, below {c.no_current_below_a:g} A)", "cannot_charge")
    return Judgement("charging", name, "ok", f"no charging fault (vehicle state {state})")


# --- the box's health --------------------------------------------------------------------------
def judge_health(health: dict, h: HealthConfig) -> list[Judgement]:
    """The box itself: storage, temperature, power supply, memory, clock, network, software."""
    system, network, software = health["system"], health["network"], health["software"]
    out = [_disk(system["disk"], h)]

    temp = system.get("soc_temperature_c")
    if temp is None:
        out.append(Judgement("temperature", "box", "no_data", "no sensor", variant="none"))
    else:
        status = "fail" if temp >= h.soc_fail_c else "warn" if temp >= h.soc_warn_c else "ok"
        out.append(Judgement("temperature", "box", status, f"{temp:g} °C",
                             "soc_hot" if status != "ok" else None, fill={"temp": f"{temp:g}"}))

    throttling = health["hooks"].get("pi_throttling")
    power = throttling.output if throttling is not None and throttling.ok else {}
    if not power.get("available"):
        out.append(Judgement("power_supply", "box", "no_data", "no reading", variant="none"))
    elif power.get("undervoltage_now"):
        out.append(Judgement("power_supply", "box", "fail", f"throttled {power.get('raw')}: the power supply is "
                             "too weak: the Pi reports undervoltage now", "undervoltage"))
    else:
        status = "warn" if power.get("undervoltage_occurred") else "ok"
        out.append(Judgement("power_supply", "box", status, f"throttled {power.get('raw')}"))

    mem = system["memory"].get("used_percent")
    if mem is None:
        out.append(Judgement("memory", "box", "no_data", "not read"))
    else:
        high = mem >= h.memory_warn_percent
        out.append(Judgement("memory", "box", "warn" if high else "ok", f"memory {mem:g} % used",
                             "memory_pressure" if high else None, fill={"used_percent": f"{mem:g}"}))

    synced = system.get("clock_synced")
    if synced is None:
        out.append(Judgement("clock", "box", "no_data", "not readable", variant="unknown"))
    elif synced:
        out.append(Judgement("clock", "box", "ok", "NTP synchronised"))
    else:
        out.append(Judgement("clock", "box", "warn", "the clock is not synchronised by NTP: times may be off",
                             "clock_not_synced"))

    if network.get("failed_step"):
        step = network["failed_step"]
        out.append(Judgement("network", "box", "fail", network["verdict_text"], "network_not_functional",
                             variant=step, fill={"step": network["steps"][step]["detail"]}))
    elif network.get("verdict") == "unknown":
        out.append(Judgement("network", "box", "no_data", network.get("error") or "not checked", variant="unknown"))
    else:
        out.append(Judgement("network", "box", "ok", network["verdict_text"]))

    verdict = software["verdict"]
    if verdict == "up to date":
        out.append(Judgement("software", "box", "ok", f"firmware {software['firmware_version']} ({software['channel']})"))
    elif verdict == "outdated":
        latest = software["latest"]["version"]
        out.append(Judgement("software", "box", "warn", f"firmware {software['firmware_version']} is older than "
                             f"{latest} on the {software['channel']} channel", "software_outdated", "outdated",
                             {"channel": software["channel"], "latest": latest}))
    else:
        error = software["latest"].get("error") or software.get("firmware_hook_error") or "unknown"
        out.append(Judgement("software", "box", "no_data", f"firmware {software['firmware_version']}", None,
                             "unknown", {"error": error}))
    return out


def _disk(disk: dict, h: HealthConfig) -> Judgement:
    if "used_percent" not in disk:
        return Judgement("disk", "box", "fail", disk.get("error", "unreadable"), variant="unreadable")
    used = disk["used_percent"]
    status = "fail" if used >= h.disk_fail_percent else "warn" if used >= h.disk_warn_percent else "ok"
    return Judgement("disk", "box", status, f"data partition {used:g} % full ({disk['free_mb']} MB free)",
                     "disk_almost_full" if status != "ok" else None,
                     fill={"used_percent": f"{used:g}", "free_mb": disk["free_mb"]})
