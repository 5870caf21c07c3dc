"""The one judgement of every value and condition: pass, warn, fail or no data (agent/vocab.py Status).

The fault rules (watch/faults.py) raise a fault where a judgement names one and holds; the self-check
(watch/checks.py), the page and report.html show the same judgements. No data is never ok: a meter that
does not answer leaves the mains supply unjudged, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from agent.config import FaultConfig, HealthConfig
from agent.vocab import FaultCode, Status

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
    return Status.worst((j.status for j in judgements), Status.NO_DATA)


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
ANSWER_HINTS = {"timeout": Status.FAIL, "gateway": "gateway", "connection": "connection", "port": "port", "noise": "noise"}


def _reachability(name: str, dev: dict, c: FaultConfig, scan: dict | None = None) -> Judgement:
    where = f"{dev['model']}, unit {dev['unit']}"
    if dev["reachable"] and not dev["values"]:  # it answers, but with none of its profile's values
        return Judgement("device", name, Status.FAIL, f"{where}: answers, but none of this model's values",
                         variant="wrong_profile", fill={"unit": dev["unit"], "profile": dev.get("profile")})
    if dev["reachable"]:
        missing = dev.get("unsupported") or {}
        detail = where + (f"; not offered by this device: {', '.join(sorted(missing))}" if missing else "")
        return Judgement("device", name, Status.PASS, detail)
    failures = dev["consecutive_failures"]
    fault = "device_unreachable" if failures >= c.unreachable_after_cycles else None
    detail = f"{where}: {dev['last_error'] or 'no answer yet'}"
    if fault:
        detail = (f"{dev['model']} (unit {dev['unit']}) has not answered for {failures} cycles: "
                  f"{dev['last_error']}")
    variant, fill = ANSWER_HINTS.get(dev.get("answer") or "", Status.FAIL), {"unit": dev["unit"]}
    others = [f for f in (scan or {}).get("found", []) if f["unit"] != dev["unit"]]
    fitting = [f for f in others if any(p["profile"] == dev["profile"] for p in f["fits"])]
    if fitting and variant in (Status.FAIL, "gateway"):  # silent here, but another unit answers: a wrong unit id?
        variant = "wrong_unit"
        fill["others"] = ", ".join(f"unit {f['unit']} ({dev['model']})" for f in fitting[:3])
    return Judgement("device", name, Status.FAIL, detail, fault, variant, fill)


def _grid(name: str, dev: dict, c: FaultConfig) -> list[Judgement]:
    phases = PHASES[: c.supply_phases]  # a single-phase supply has no L2 and L3 to lose
    volts = {n: v for n in phases if (v := _value(dev, f"voltage_l{n}")) is not None} if dev["reachable"] else {}
    freq = _value(dev, "frequency") if dev["reachable"] else None
    if not volts and freq is None:
        why = "the device does not answer" if not dev["reachable"] else "no plausible voltage or frequency reading"
        return [Judgement("grid", name, Status.NO_DATA, f"no reading from {name}: {why}")]
    found = []
    lost = [n for n, v in volts.items() if v < c.lost_phase_below_v]
    if lost and len(lost) < len(volts):
        found.append(Judgement("grid", name, Status.FAIL, "phase " + ", ".join(f"L{n}" for n in lost) + " has no voltage",
                               "phase_lost"))
    bad = [f"L{n} {v:g} V" for n, v in volts.items() if n not in lost and not c.voltage_min_v <= v <= c.voltage_max_v]
    if bad:
        found.append(Judgement("grid", name, Status.WARN, f"voltage outside {c.voltage_min_v:g}-{c.voltage_max_v:g} V: "
                               f"{', '.join(bad)}", "voltage_out_of_band"))
    if freq is not None and not c.frequency_min_hz <= freq <= c.frequency_max_hz:
        found.append(Judgement("grid", name, Status.WARN, f"frequency {freq:g} Hz outside "
                               f"{c.frequency_min_hz:g}-{c.frequency_max_hz:g} Hz", "frequency_out_of_band"))
    return found or [Judgement("grid", name, Status.PASS, "in range")]


def _charging(name: str, dev: dict, c: FaultConfig, currents: list[float]) -> Judgement:
    state = dev.get("iec_state")
    if not dev["reachable"] or state is None:
        return Judgement("charging", name, Status.NO_DATA, f"no vehicle state from {name}")
    if state in ("E", "F"):
        return Judgement("charging", name, Status.FAIL, f"vehicle state {state} (failure, e.g. diode check or RCD): "
                         "the box cannot charge", "vehicle_failure")
    # Current should flow only where the car asks for it (C, or D with ventilation) and the controller
    # offers at least the minimum; in state B the car may rest (battery full, charging scheduled).
    offered = _value(dev, "actual_current")
    offered = _value(dev, "configured_current") if offered is None else offered
    should_flow = state in ("C", "D") and offered is not None and offered >= c.charging_enabled_min_a
    if should_flow and not currents:  # current should flow, and nothing measures it: unjudged, never ok
        return Judgement("charging", name, Status.NO_DATA, f"the car charges (state {state}) but no current reading "
                         "comes in: the meter does not answer")
    # Any current the meter resolves is charging, however little: a full car resting in state C draws
    # 0.3-0.45 A for battery conditioning. Only no current at all, with current offered, is a fault.
    if should_flow and max(currents) < c.no_current_below_a:
        return Judgement("charging", name, Status.FAIL, f"the car asks to charge (state {state}), charging enabled "
                         f"at {offered:g} A, but the meter measures no current (at most {max(currents):.2f} A "
                         f"on any phase, below {c.no_current_below_a:g} A)", "cannot_charge")
    return Judgement("charging", name, Status.PASS, f"no charging fault (vehicle state {state})")


# --- the box's health --------------------------------------------------------------------------
def judge_health(health: dict, h: HealthConfig) -> list[Judgement]:
    """The box itself: storage, temperature, power supply, memory, clock, network, software."""
    system, network, software = health["system"], health["network"], health["software"]
    out = [_disk(system["disk"], h)]

    temp = system.get("soc_temperature_c")
    if temp is None:
        out.append(Judgement("temperature", "box", Status.NO_DATA, "no sensor", variant="none"))
    else:
        status = Status.FAIL if temp >= h.soc_fail_c else Status.WARN if temp >= h.soc_warn_c else Status.PASS
        out.append(Judgement("temperature", "box", status, f"{temp:g} °C",
                             "soc_hot" if status != Status.PASS else None, fill={"temp": f"{temp:g}"}))

    throttling = health["hooks"].get("pi_throttling")
    power = throttling.output if throttling is not None and throttling.ok else {}
    if not power.get("available"):
        out.append(Judgement("power_supply", "box", Status.NO_DATA, "no reading", variant="none"))
    elif power.get("undervoltage_now"):
        out.append(Judgement("power_supply", "box", Status.FAIL, f"throttled {power.get('raw')}: the power supply is "
                             "too weak: the Pi reports undervoltage now", "undervoltage"))
    else:
        status = Status.WARN if power.get("undervoltage_occurred") else Status.PASS
        out.append(Judgement("power_supply", "box", status, f"throttled {power.get('raw')}"))

    mem = system["memory"].get("used_percent")
    if mem is None:
        out.append(Judgement("memory", "box", Status.NO_DATA, "not read"))
    else:
        high = mem >= h.memory_warn_percent
        out.append(Judgement("memory", "box", Status.WARN if high else Status.PASS, f"memory {mem:g} % used",
                             "memory_pressure" if high else None, fill={"used_percent": f"{mem:g}"}))

    synced = system.get("clock_synced")
    if synced is None:
        out.append(Judgement("clock", "box", Status.NO_DATA, "not readable", variant="unknown"))
    elif synced:
        out.append(Judgement("clock", "box", Status.PASS, "NTP synchronised"))
    else:
        out.append(Judgement("clock", "box", Status.WARN, "the clock is not synchronised by NTP: times may be off",
                             "clock_not_synced"))

    if network.get("failed_step"):
        step = network["failed_step"]
        out.append(Judgement("network", "box", Status.FAIL, network["verdict_text"], "network_not_functional",
                             variant=step, fill={"step": network["steps"][step]["detail"]}))
    elif network.get("verdict") == "unknown":
        out.append(Judgement("network", "box", Status.NO_DATA, network.get("error") or "not checked", variant="unknown"))
    else:
        out.append(Judgement("network", "box", Status.PASS, network["verdict_text"]))

    verdict = software["verdict"]
    if verdict == "up to date":
        out.append(Judgement("software", "box", Status.PASS, f"firmware {software['firmware_version']} ({software['channel']})"))
    elif verdict == "outdated":
        latest = software["latest"]["version"]
        out.append(Judgement("software", "box", Status.WARN, f"firmware {software['firmware_version']} is older than "
                             f"{latest} on the {software['channel']} channel", "software_outdated", "outdated",
                             {"channel": software["channel"], "latest": latest}))
    else:
        error = software["latest"].get("error") or software.get("firmware_hook_error") or "unknown"
        out.append(Judgement("software", "box", Status.NO_DATA, f"firmware {software['firmware_version']}", None,
                             "unknown", {"error": error}))
    return out


def _disk(disk: dict, h: HealthConfig) -> Judgement:
    if "used_percent" not in disk:
        return Judgement("disk", "box", Status.FAIL, disk.get("error", "unreadable"), variant="unreadable")
    used = disk["used_percent"]
    status = Status.FAIL if used >= h.disk_fail_percent else Status.WARN if used >= h.disk_warn_percent else Status.PASS
    return Judgement("disk", "box", status, f"data partition {used:g} % full ({disk['free_mb']} MB free)",
                     "disk_almost_full" if status != Status.PASS else None,
                     fill={"used_percent": f"{used:g}", "free_mb": disk["free_mb"]})


# --- hooks and firmware: judged from what the fault monitor counted ------------------------------
def judge_hooks(hooks: dict, in_a_row: dict[str, int], h: HealthConfig) -> list[Judgement]:
    """Each firmware hook: did it answer now; one that failed HOOK_FAILURES_BEFORE_FAULT times in a row
    (IN_A_ROW, counted by the fault monitor) names a fault."""
    out = []
    for name, result in hooks.items():
        if result.ok:
            out.append(Judgement("hook", name, Status.PASS, "answers"))
            continue
        failures = in_a_row.get(name, 1)
        fault = FaultCode.HOOK_FAILING if failures >= h.hook_failures_before_fault else None
        out.append(Judgement("hook", name, Status.WARN, f"hook {name} failed {failures} times in a row: "
                             f"{result.error}", fault))
    return out


def judge_firmware(name: str, change: tuple[float, str] | None, now: float, c: FaultConfig) -> Judgement:
    """A charge controller's firmware version: a change (when, in words) seen less than
    firmware_change_hold_s ago names a fault, so the report after an update says so."""
    if change and now - change[0] < c.firmware_change_hold_s:
        return Judgement("firmware", name, Status.WARN, change[1], FaultCode.FIRMWARE_CHANGED)
    return Judgement("firmware", name, Status.PASS, "unchanged")


# --- the agent's own connections and inputs ------------------------------------------------------
@dataclass(frozen=True)
class Links:
    """What the self-check knows of the agent's ways out: the backend's address, the MQTT link."""

    backend_url: str = ""
    mqtt_enabled: bool = False
    mqtt_where: str = ""  # host:port
    mqtt_connected: bool | None = None  # None: no daemon runs, the health probe says
    mqtt_not_authorized: bool = False  # the broker refused the credentials: no waiting helps
    mqtt_problem: str | None = None


def judge_links(links: Links, health: dict, outbox: dict | None) -> list[Judgement]:
    """The backend and the broker, the commissioning protocol and cloud credentials the hooks report,
    the hooks themselves, and the reports waiting in the outbox."""
    out = []
    if not links.backend_url:
        out.append(Judgement("network", "box", Status.WARN, "backend.url is empty", variant="unconfigured"))
    if links.mqtt_enabled:
        broker = health["network"].get("broker", {})
        if links.mqtt_connected or (links.mqtt_connected is None and broker.get("ok")):
            out.append(Judgement("broker", "box", Status.PASS, links.mqtt_where))
        else:
            problem = links.mqtt_problem or broker.get("detail", "not connected")
            out.append(Judgement("broker", "box", Status.FAIL if links.mqtt_not_authorized else Status.WARN,
                                 problem, variant="not_authorized" if links.mqtt_not_authorized else None))
    hooks = health["hooks"]
    for topic, key in (("commissioning", "present"), ("cloud_credentials", "configured")):
        result = hooks.get(topic)
        yes = bool(result is not None and result.ok and result.output.get(key))
        detail = "yes" if yes else ("no" if result is not None and result.ok else "hook missing or failed")
        out.append(Judgement(topic, "box", Status.PASS if yes else Status.WARN, detail))
    failed = sorted(n for n, r in hooks.items() if not r.ok)
    out.append(Judgement("hooks", "box", Status.WARN if failed else Status.PASS,
                         ", ".join(failed) or f"{len(hooks)} hooks ok", fill={"names": ", ".join(failed)}))
    if outbox is not None:
        out.append(_outbox(outbox))
    return out


def _outbox(counts: dict) -> Judgement:
    """Reports on the box that have no case yet, in the outbox's own words (agent/outbox)."""
    waiting, refused = counts["accepted"] + counts["sending"], counts["refused"]
    detail, fill = f"{waiting} waiting, {refused} refused", {"waiting": waiting, "refused": refused}
    if refused:
        return Judgement("outbox", "box", Status.FAIL, detail, variant="refused", fill=fill)
    if waiting:
        return Judgement("outbox", "box", Status.WARN, detail, variant="waiting", fill=fill)
    return Judgement("outbox", "box", Status.PASS, detail)
