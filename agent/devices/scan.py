"""An installer's bus scan: which unit ids answer on a bus, and which shipped profiles fit each of them.

Bounded and polite: one short request per unit id, through the bus's own link (its lock shared with the
firmware, its pauses), within a time budget; then, for each unit that answered, each profile's fast
values are read once and the profile fits when they answer and decode to plausible values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from agent.config import BusConfig
from agent.devices.modbus import DeviceException, ModbusError, ModbusLink
from agent.devices.planner import DecodeError, decode, plan_reads, slice_for
from agent.devices.profiles import available_profiles, load_profile

FIT_AT_LEAST = 0.9  # of a profile's fast values that must answer plausibly


@dataclass
class Found:
    unit: int
    how: str  # "values" (registers came back) or "exception N" (the device refused, but it is there)
    fits: list[dict] = field(default_factory=list)  # [{"profile", "model", "score"}], best first


@dataclass
class ScanResult:
    bus: str
    units_asked: int
    seconds: float
    found: list[Found]
    stopped: str | None = None  # why the scan ended early (time budget)


def parse_units(text: str) -> list[int]:
    """'1-247', '1,2,105' or '100-110,1' -> sorted unit ids; ValueError says what is wrong."""
    units: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        lo, hi = int(first), int(last or first)
        if not 1 <= lo <= hi <= 247:
            raise ValueError(f"units: expected ids from 1 to 247 such as 1-247 or 1,105, got {part.strip()!r}")
        units.update(range(lo, hi + 1))
    return sorted(units)


def probe(link: ModbusLink, unit: int, probes: Sequence[tuple[str, int]], timeout_s: float) -> str | None:
    """Does UNIT answer at all? Any reply counts, an exception included; silence is None."""
    for function, address in probes:
        try:
            link.read(unit, function, address, 1, timeout_s=timeout_s, retries=0)
            return "values"
        except DeviceException as exc:
            how = f"exception {exc.code}"
        except ModbusError:
            return None
    return how


def fits(link: ModbusLink, unit: int, profiles_dir: str, baudrate: int, timeout_s: float) -> list[dict]:
    """Every shipped profile whose fast values this unit answers with plausible numbers, best first.
    An answer of zeros everywhere fits nothing: emulators and gateways answer unmapped registers so."""
    out = []
    for name in available_profiles(profiles_dir):
        profile = load_profile(profiles_dir, name)
        fast = [n for n, s in profile.values.items() if s.poll == "fast"]
        good, anything = 0, False
        for req in plan_reads(profile, fast, baudrate):
            try:
                registers = link.read(unit, req.function, req.address, req.count, timeout_s=timeout_s, retries=0)
            except ModbusError:
                continue
            anything = anything or any(registers)
            for value in req.values:
                spec = profile.values[value]
                try:
                    decode(spec, slice_for(req, spec, registers))
                    good += 1
                except DecodeError:
                    pass
        score = good / len(fast) if fast and anything else 0.0
        if score >= FIT_AT_LEAST:
            out.append({"profile": name, "model": profile.model, "score": round(score, 2)})
    return sorted(out, key=lambda f: -f["score"])


def scan_bus(
    bus: BusConfig,
    units: list[int],
    profiles_dir: str,
    budget_s: float = 60.0,
    timeout_s: float | None = None,
    link: ModbusLink | None = None,
    configured: Sequence[int] = (),
    progress: Callable[[dict], None] | None = None,
) -> ScanResult:
    """Ask each unit id once (a short TIMEOUT_S each, the bus's own by default), then fit profiles.
    CONFIGURED unit ids are always asked, first, whatever UNITS says and however the budget goes: a scan
    must never call the working meter silent without asking it. LINK: the poller's, shared (its own
    settings stay for polling; the scan's timeout holds per request). PROGRESS gets
    {"bus", "asked", "total", "found"} after each unit id."""
    started = time.monotonic()
    timeout_s = timeout_s or bus.timeout_s
    own = link is None
    link = link or ModbusLink(replace(bus, timeout_s=timeout_s, retries=0))
    units = list(dict.fromkeys([*sorted(configured), *units]))
    # The cheapest questions most devices answer: a meter's first input register, a controller's holding one.
    probes = sorted(
        {
            (s.function, s.address)
            for name in available_profiles(profiles_dir)
            for s in list(load_profile(profiles_dir, name).values.values())[:1]
        }
    )
    found = []
    stopped = None
    asked = 0
    try:
        for unit in units:
            if time.monotonic() - started > budget_s and asked >= len(configured):
                stopped = f"time budget of {budget_s:g} s used after {asked} unit ids"
                break
            asked += 1
            how = probe(link, unit, probes, timeout_s)
            if how is not None:
                found.append(Found(unit, how))
            if progress:
                progress({"bus": bus.name, "asked": asked, "total": len(units), "found": len(found)})
        for f in found:
            f.fits = fits(link, f.unit, profiles_dir, bus.baudrate, timeout_s)
    finally:
        if own:
            link.release()
    return ScanResult(bus.name, asked, round(time.monotonic() - started, 2), found, stopped)


QUICK_UNITS = list(range(1, 33))  # where installers' devices usually are; the configured ids are added
QUICK_TIMEOUT_S, QUICK_BUDGET_S = 0.1, 10.0


def quick_scans(
    buses: dict[str, BusConfig], devices: Mapping, profiles_dir: str, links: dict[str, ModbusLink] | None = None
) -> dict[str, dict]:
    """For the self-check: on each bus where a configured device is silent, which other unit ids answer.
    LINKS: the running poller's (shared with polling, so serial buses are never opened twice)."""
    out = {}
    silent = {d.bus for d in devices.values() if not d.reachable and d.answer in ("timeout", "gateway")}
    for name in sorted(silent):
        bus = buses[name]
        mine = [d.unit for d in devices.values() if d.bus == name and d.unit]
        link = (links or {}).get(name) if bus.type == "rtu" else None
        result = scan_bus(bus, QUICK_UNITS, profiles_dir, QUICK_BUDGET_S, QUICK_TIMEOUT_S, link, configured=mine)
        out[name] = to_dict(result)
    return out


def to_dict(result: ScanResult) -> dict:
    return {
        "bus": result.bus,
        "units_asked": result.units_asked,
        "seconds": result.seconds,
        "stopped": result.stopped,
        "found": [{"unit": f.unit, "how": f.how, "fits": f.fits} for f in result.found],
    }
