"""The agent's own links and inputs: the backend and the broker, the hooks and what they report, the
charge controller's firmware version, and the reports waiting in the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.config import FaultConfig, HealthConfig
from agent.vocab import FaultCode, Status
from agent.watch.judge.verdict import Judgement


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
        out.append(
            Judgement(
                "hook",
                name,
                Status.WARN,
                f"hook {name} failed {failures} times in a row: {result.error}",
                fault,
                fill={"name": name, "times": failures},
            )
        )
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


def judge_links(links: Links, health: dict, outbox: Mapping[str, int] | None) -> list[Judgement]:
    """The backend and the broker, the commissioning protocol and cloud credentials the hooks report,
    the hooks themselves, and the reports waiting in the outbox."""
    out = []
    if not links.backend_url and not links.mqtt_enabled:  # MQTT alone carries reports as well (README)
        out.append(Judgement("network", "box", Status.WARN, "backend.url is empty", variant="unconfigured"))
    if links.mqtt_enabled:
        broker = health["network"].get("broker", {})
        if links.mqtt_connected or (links.mqtt_connected is None and broker.get("ok")):
            out.append(Judgement("broker", "box", Status.PASS, links.mqtt_where))
        else:
            problem = links.mqtt_problem or broker.get("detail", "not connected")
            out.append(
                Judgement(
                    "broker",
                    "box",
                    Status.FAIL if links.mqtt_not_authorized else Status.WARN,
                    problem,
                    variant="not_authorized" if links.mqtt_not_authorized else None,
                )
            )
    hooks = health["hooks"]
    for topic, key in (("commissioning", "present"), ("cloud_credentials", "configured")):
        result = hooks.get(topic)
        yes = bool(result is not None and result.ok and result.output.get(key))
        why = "hook missing" if result is None else f"hook failed: {_why(result)}"
        detail = "yes" if yes else ("no" if result is not None and result.ok else why)
        out.append(Judgement(topic, "box", Status.PASS if yes else Status.WARN, detail))
    failed = sorted(n for n, r in hooks.items() if not r.ok)
    # Each failed hook with its reason (timed out, not executable, bad JSON...): what the firmware maker fixes.
    reasons = "; ".join(f"{n}: {_why(hooks[n])}" for n in failed)
    out.append(
        Judgement(
            "hooks",
            "box",
            Status.WARN if failed else Status.PASS,
            reasons or f"{len(hooks)} hooks ok",
            fill={"names": reasons},
        )
    )
    if outbox is not None:
        out.append(_outbox(outbox))
    return out


def _why(result) -> str:
    """Why a hook failed, with the last line it wrote on stderr (what its maker reads first); the check's
    answer is scrubbed of every secret before it leaves (service/status.py, cli/main.py)."""
    last = (result.stderr_tail or "").strip().splitlines()[-1:] or [""]
    return f"{str(result.error)[:120]}" + (f" ({last[0][:120]})" if last[0] else "")


def _outbox(counts: Mapping[str, int]) -> Judgement:
    """Reports on the box that have no case yet, in the outbox's own words (agent/outbox)."""
    waiting, refused = counts["accepted"] + counts["sending"], counts["refused"]
    detail, fill = f"{waiting} waiting, {refused} refused", {"waiting": waiting, "refused": refused}
    if refused:
        return Judgement("outbox", "box", Status.FAIL, detail, variant="refused", fill=fill)
    if waiting:
        return Judgement("outbox", "box", Status.WARN, detail, variant="waiting", fill=fill)
    return Judgement("outbox", "box", Status.PASS, detail)
