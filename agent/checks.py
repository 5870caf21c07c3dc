"""The self-check: every check pass, warn or fail, each with a plain-language hint from agent/hints/."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from agent.config import AgentConfig

HINTS_DIR = Path(__file__).resolve().parent / "hints"
STATUS_ORDER = {"pass": 0, "warn": 1, "fail": 2}


@dataclass
class Check:
    id: str
    title: str
    status: str  # pass | warn | fail
    detail: str
    hint: str


@lru_cache(maxsize=4)
def load_hints(language: str = "en") -> dict:
    return yaml.safe_load((HINTS_DIR / f"{language}.yaml").read_text(encoding="utf-8"))


class _Builder:
    def __init__(self, language: str):
        self.hints = load_hints(language)
        self.checks: list[Check] = []

    def add(self, check_id: str, status: str, detail: str, variant: str | None = None, name: str | None = None,
            title_key: str | None = None, **fill) -> None:
        text = self.hints[check_id][variant or status]
        title = self.hints["titles"][title_key or check_id] + (f" {name}" if name else "")
        self.checks.append(Check(f"{check_id}:{name}" if name else check_id, title, status, detail,
                                 text.format(detail=detail, **fill)))


def run_checks(cfg: AgentConfig, devices: dict, health: dict, faults: list[dict], outbox: dict | None = None,
               mqtt_connected: bool | None = None, language: str = "en") -> list[Check]:
    """The checklist from what the agent knows: device snapshot, health snapshot, active faults."""
    b = _Builder(language)
    sw = health["software"]
    if sw["verdict"] == "up to date":
        b.add("software", "pass", f"firmware {sw['firmware_version']} ({sw['channel']})")
    elif sw["verdict"] == "outdated":
        b.add("software", "warn", f"firmware {sw['firmware_version']}, newest {sw['latest']['version']}", "outdated",
              channel=sw["channel"], latest=sw["latest"]["version"])
    else:
        error = sw["latest"].get("error") or sw.get("firmware_hook_error") or "unknown"
        b.add("software", "warn", f"firmware {sw['firmware_version']}", "unknown", error=error)

    for name, dev in devices.items():
        key = "device_meter" if dev["kind"] == "meter" else "device_charge_controller"
        if dev["reachable"]:
            b.add(key, "pass", f"{dev['model']}, unit {dev['unit']}", name=name)
        else:
            b.add(key, "fail", f"{dev['model']}, unit {dev['unit']}: {dev['last_error'] or 'no answer yet'}",
                  name=name, unit=dev["unit"])

    by_code = {f["code"]: f for f in faults}
    charging = by_code.get("vehicle_failure") or by_code.get("cannot_charge")
    if charging:
        b.add("charging", "fail", charging["message"], message=charging["message"][:1].upper() + charging["message"][1:])
    else:
        b.add("charging", "pass", "no charging fault")
    grid = [by_code[c] for c in ("phase_lost", "voltage_out_of_band", "frequency_out_of_band") if c in by_code]
    if grid:
        message = "; ".join(f["message"] for f in grid)
        b.add("grid", "warn", message, message=message[:1].upper() + message[1:])
    else:
        b.add("grid", "pass", "in range")

    net = health["network"]
    if not cfg.backend.url:
        b.add("network", "warn", "backend.url is empty", "unconfigured")
    elif net["failed_step"]:
        step = net["failed_step"]
        b.add("network", "fail", net["steps"][step]["detail"], step)
    else:
        b.add("network", "pass", net["verdict_text"])
    if cfg.mqtt.enabled:
        broker = net.get("broker", {})
        if mqtt_connected or (mqtt_connected is None and broker.get("ok")):
            b.add("broker", "pass", f"{cfg.mqtt.host}:{cfg.mqtt.port}")
        else:
            b.add("broker", "warn", broker.get("detail", "not connected"))

    system = health["system"]
    synced = system.get("clock_synced")
    b.add("clock", "pass" if synced else "warn", "NTP synchronised" if synced else "not synchronised",
          "unknown" if synced is None else None)
    disk = system["disk"]
    if "used_percent" in disk:
        used, h = disk["used_percent"], cfg.health
        status = "fail" if used >= h.disk_fail_percent else "warn" if used >= h.disk_warn_percent else "pass"
        b.add("disk", status, f"{used:g} % used, {disk['free_mb']} MB free", used_percent=f"{used:g}",
              free_mb=disk["free_mb"])
    else:
        b.add("disk", "fail", disk.get("error", "unreadable"), "unreadable")
    temp = system.get("soc_temperature_c")
    if temp is None:
        b.add("temperature", "pass", "no sensor", "none")
    else:
        h = cfg.health
        status = "fail" if temp >= h.soc_fail_c else "warn" if temp >= h.soc_warn_c else "pass"
        b.add("temperature", status, f"{temp:g} °C", temp=f"{temp:g}")
    throttling = health["hooks"].get("pi_throttling")
    out = throttling.output if throttling is not None and throttling.ok else {}
    if not out.get("available"):
        b.add("power_supply", "pass", "no reading", "none")
    elif out.get("undervoltage_now"):
        b.add("power_supply", "fail", f"throttled {out.get('raw')}")
    elif out.get("undervoltage_occurred"):
        b.add("power_supply", "warn", f"throttled {out.get('raw')}")
    else:
        b.add("power_supply", "pass", f"throttled {out.get('raw')}")
    mem = system["memory"]["used_percent"]
    b.add("memory", "warn" if mem >= cfg.health.memory_warn_percent else "pass", f"{mem:g} % used",
          used_percent=f"{mem:g}")

    for check_id, hook, field in (("commissioning", "commissioning", "present"),
                                  ("cloud_credentials", "cloud_credentials", "configured")):
        result = health["hooks"].get(hook)
        yes = bool(result is not None and result.ok and result.output.get(field))
        detail = "yes" if yes else ("no" if result is not None and result.ok else "hook missing or failed")
        b.add(check_id, "pass" if yes else "warn", detail)
    failed = sorted(n for n, r in health["hooks"].items() if not r.ok)
    b.add("hooks", "warn" if failed else "pass", ", ".join(failed) or f"{len(health['hooks'])} hooks ok",
          names=", ".join(failed))
    if outbox is not None:
        waiting = outbox["pending"] + outbox["parked"]
        b.add("outbox", "warn" if waiting else "pass", f"{outbox['pending']} waiting, {outbox['parked']} parked",
              pending=outbox["pending"], parked=outbox["parked"])
    return b.checks


def overall(checks: list[Check]) -> str:
    return max((c.status for c in checks), key=STATUS_ORDER.__getitem__, default="pass")


def to_dict(checks: list[Check]) -> dict:
    counts = {s: sum(c.status == s for c in checks) for s in STATUS_ORDER}
    return {"result": overall(checks), "counts": counts, "checks": [asdict(c) for c in checks]}


def render(checks: list[Check]) -> str:
    counts = {s: sum(c.status == s for c in checks) for s in STATUS_ORDER}
    lines = [f"diag-agent self-check: {counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass"]
    for c in sorted(checks, key=lambda c: -STATUS_ORDER[c.status]):
        lines.append(f"  {c.status.upper():<5} {c.title:<28} {c.detail}")
        if c.status != "pass":
            lines.append(f"        -> {c.hint}")
    return "\n".join(lines)
