"""The box itself: storage, temperature, power supply, memory, clock, network, software."""

from __future__ import annotations

from agent.config import HealthConfig
from agent.vocab import Status
from agent.watch.judge.verdict import Judgement


def judge_health(health: dict, h: HealthConfig) -> list[Judgement]:
    """The box itself: storage, temperature, power supply, memory, clock, network, software."""
    system = health["system"]
    return [
        _disk(system["disk"], h),
        _temperature(system.get("soc_temperature_c"), h),
        _power_supply(health["hooks"].get("pi_throttling")),
        _memory(system["memory"].get("used_percent"), h),
        _clock(system.get("clock_synced")),
        _network(health["network"]),
        _software(health["software"]),
    ]


def _temperature(temp: float | None, h: HealthConfig) -> Judgement:
    if temp is None:
        return Judgement("temperature", "box", Status.NO_DATA, "no sensor", variant="none")
    status = Status.FAIL if temp >= h.soc_fail_c else Status.WARN if temp >= h.soc_warn_c else Status.PASS
    code = "soc_hot" if status != Status.PASS else None
    return Judgement("temperature", "box", status, f"{temp:g} °C", code, fill={"temp": f"{temp:g}"})


def _power_supply(throttling) -> Judgement:
    """From the pi_throttling hook's facts (the firmware's throttled bits)."""
    power = throttling.output if throttling is not None and throttling.ok else {}
    if not power.get("available"):
        return Judgement("power_supply", "box", Status.NO_DATA, "no reading", variant="none")
    if power.get("undervoltage_now"):
        return Judgement(
            "power_supply",
            "box",
            Status.FAIL,
            f"throttled {power.get('raw')}: the power supply is too weak: the Pi reports undervoltage now",
            "undervoltage",
        )
    status = Status.WARN if power.get("undervoltage_occurred") else Status.PASS
    return Judgement("power_supply", "box", status, f"throttled {power.get('raw')}")


def _memory(used: float | None, h: HealthConfig) -> Judgement:
    if used is None:
        return Judgement("memory", "box", Status.NO_DATA, "not read")
    high = used >= h.memory_warn_percent
    return Judgement(
        "memory",
        "box",
        Status.WARN if high else Status.PASS,
        f"memory {used:g} % used",
        "memory_pressure" if high else None,
        fill={"used_percent": f"{used:g}"},
    )


def _clock(synced: bool | None) -> Judgement:
    if synced is None:
        return Judgement("clock", "box", Status.NO_DATA, "not readable", variant="unknown")
    if synced:
        return Judgement("clock", "box", Status.PASS, "NTP synchronised")
    return Judgement(
        "clock", "box", Status.WARN, "the clock is not synchronised by NTP: times may be off", "clock_not_synced"
    )


def _network(network: dict) -> Judgement:
    step = network.get("failed_step")
    if step:
        return Judgement(
            "network",
            "box",
            Status.FAIL,
            network_verdict(network)["verdict_text"],
            "network_not_functional",
            # Through a proxy, it is the proxy's setting or its rules that the person must look at.
            variant="backend_proxy" if step == "backend_tcp" and network.get("proxy") else step,
            fill={"step": network["steps"][step]["detail"]},
        )
    if not network.get("checked"):
        return Judgement("network", "box", Status.NO_DATA, network.get("error") or "not checked", variant="unknown")
    return Judgement("network", "box", Status.PASS, network_verdict(network)["verdict_text"])


def _software(software: dict) -> Judgement:
    verdict = software_verdict(software)
    firmware = f"firmware {software['firmware_version']}"
    if verdict == "up to date":
        return Judgement("software", "box", Status.PASS, f"{firmware} ({software['channel']})")
    if verdict == "outdated":
        latest = software["latest"]["version"]
        return Judgement(
            "software",
            "box",
            Status.WARN,
            f"{firmware} is older than {latest} on the {software['channel']} channel",
            "software_outdated",
            "outdated",
            {"channel": software["channel"], "latest": latest},
        )
    error = software["latest"].get("error") or software.get("firmware_hook_error") or "unknown"
    return Judgement("software", "box", Status.NO_DATA, firmware, None, "unknown", {"error": error})


def _disk(disk: dict, h: HealthConfig) -> Judgement:
    if "used_percent" not in disk:
        return Judgement("disk", "box", Status.FAIL, disk.get("error", "unreadable"), variant="unreadable")
    used = disk["used_percent"]
    status = Status.FAIL if used >= h.disk_fail_percent else Status.WARN if used >= h.disk_warn_percent else Status.PASS
    return Judgement(
        "disk",
        "box",
        status,
        f"data partition {used:g} % full ({disk['free_mb']} MB free)",
        "disk_almost_full" if status != Status.PASS else None,
        fill={"used_percent": f"{used:g}", "free_mb": disk["free_mb"]},
    )


# --- the words of two verdicts people read in the status, the page and the report ------------------
NETWORK_BREAKS = {
    "link": "no link",
    "address": "no address",
    "gateway": "no gateway",
    "dns": "no DNS",
    "backend_tcp": "backend unreachable",
    "backend_tls": "TLS refused",
}


def network_verdict(network: dict) -> dict[str, str]:
    """The network collector's facts (health/network.py) as a verdict: functional, not functional (naming the
    first step that breaks), or unknown when it could not be checked."""
    if not network.get("checked"):
        return {"verdict": "unknown", "verdict_text": "unknown"}
    step = network.get("failed_step")
    if step:
        return {"verdict": "not functional", "verdict_text": f"not functional: {NETWORK_BREAKS[step]}"}
    return {"verdict": "functional", "verdict_text": "network functional"}


def software_verdict(software: dict) -> str:
    """Whether the firmware is the newest release of its channel: up to date, outdated, or unknown."""
    current = software.get("current")
    return "unknown" if current is None else "up to date" if current else "outdated"
