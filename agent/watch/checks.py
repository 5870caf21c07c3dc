"""The self-check: the judgements (watch/judge.py) as a checklist, pass / warn / fail / no data, each
with a plain-language hint in the box's language (agent/lang/)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from agent.config import AgentConfig
from agent.watch.judge import RANK, Judgement, judge_devices, judge_health, worst

STATUS_ORDER = {"pass": 0, "no_data": 1, "warn": 2, "fail": 3}
SHOWN = {"ok": "pass", "no_data": "no_data", "warn": "warn", "fail": "fail"}  # a judgement's status in the list


@dataclass
class Check:
    id: str
    title: str
    status: str  # pass | no_data | warn | fail
    detail: str
    hint: str


def load_hints(language: str = "en") -> dict:
    """The self-check's titles and hints in LANGUAGE (agent/lang/)."""
    from agent.lang import load

    return load(language)


class _Builder:
    def __init__(self, language: str):
        self.hints = load_hints(language)
        self.checks: list[Check] = []

    def add(self, check_id: str, status: str, detail: str, variant: str | None = None, name: str | None = None,
            **fill) -> None:
        text = self.hints[check_id][variant or status]
        title = self.hints["titles"][check_id] + (f" {name}" if name else "")
        self.checks.append(Check(f"{check_id}:{name}" if name else check_id, title, status, detail,
                                 text.format(detail=detail, **fill)))

    def judged(self, check_id: str, j: Judgement, name: str | None = None, pending: bool = False) -> None:
        """Show judgement J. PENDING: it names a fault that has not held long enough to be raised yet,
        so it is a warning, not a failure."""
        status = SHOWN[j.status]
        if pending and status == "fail":
            status = "warn"
        self.add(check_id, status, j.detail, j.variant or status, name, **j.fill)


def run_checks(cfg: AgentConfig, box, language: str | None = None) -> list[Check]:
    """The checklist from a BoxSnapshot: device readings, health, active faults, the outbox; in LANGUAGE,
    else the box's."""
    b = _Builder(language or cfg.language)
    health = box.health
    active = {(f["code"], f["device"]) for f in box.faults}
    devices = judge_devices(box.readings, cfg.faults, box.scans)
    box_health = {j.topic: j for j in judge_health(health, cfg.health)}

    b.judged("software", box_health["software"])
    for j in (j for j in devices if j.topic == "device"):
        key = "device_meter" if box.readings[j.subject]["kind"] == "meter" else "device_charge_controller"
        b.judged(key, j, name=j.subject)
    for topic in ("charging", "grid"):
        found = [j for j in devices if j.topic == topic]
        bad = [j for j in found if RANK[j.status] >= RANK["warn"]]
        if bad:
            message = "; ".join(j.detail for j in bad)
            pending = all(j.fault and (j.fault, j.subject) not in active for j in bad)
            status = worst(bad)
            b.judged(topic, Judgement(topic, "box", status, message, fill={"message": message[:1].upper() + message[1:]}),
                     pending=pending)
        elif not found:  # nothing configured reads it: say so, not "it does not answer"
            b.add(topic, "no_data", "no device reads it", "unconfigured")
        elif any(j.status == "no_data" for j in found):
            b.add(topic, "no_data", "; ".join(j.detail for j in found if j.status == "no_data"), "none")
        else:
            b.add(topic, "pass", found[0].detail if len(found) == 1 else "in range")

    if not cfg.backend.url:
        b.add("network", "warn", "backend.url is empty", "unconfigured")
    else:
        b.judged("network", box_health["network"])
    if cfg.mqtt.enabled:
        broker = health["network"].get("broker", {})
        if box.mqtt_connected or (box.mqtt_connected is None and broker.get("ok")):
            b.add("broker", "pass", f"{cfg.mqtt.host}:{cfg.mqtt.port}")
        else:
            problem = box.mqtt_problem or broker.get("detail", "not connected")
            if problem.startswith("not authorized"):  # no waiting helps: a person must fix the credentials
                b.add("broker", "fail", problem, "not_authorized")
            else:
                b.add("broker", "warn", problem)
    for topic in ("clock", "disk", "temperature", "power_supply", "memory"):
        b.judged(topic, box_health[topic])

    for check_id, hook, field in (("commissioning", "commissioning", "present"),
                                  ("cloud_credentials", "cloud_credentials", "configured")):
        result = health["hooks"].get(hook)
        yes = bool(result is not None and result.ok and result.output.get(field))
        detail = "yes" if yes else ("no" if result is not None and result.ok else "hook missing or failed")
        b.add(check_id, "pass" if yes else "warn", detail)
    failed = sorted(n for n, r in health["hooks"].items() if not r.ok)
    b.add("hooks", "warn" if failed else "pass", ", ".join(failed) or f"{len(health['hooks'])} hooks ok",
          names=", ".join(failed))
    if box.outbox is not None:
        _outbox(b, box.outbox)
    return b.checks


def _outbox(b: _Builder, counts: dict) -> None:
    """Reports on the box that have no case yet, in the outbox's own words (agent/outbox)."""
    waiting = counts["accepted"] + counts["sending"]
    detail = f"{waiting} waiting, {counts['refused']} refused"
    if counts["refused"]:
        b.add("outbox", "fail", detail, "refused", waiting=waiting, refused=counts["refused"])
    elif waiting:
        b.add("outbox", "warn", detail, "waiting", waiting=waiting)
    else:
        b.add("outbox", "pass", detail)


def overall(checks: list[Check]) -> str:
    """The list's result: its worst item; no data alone neither passes nor fails the list."""
    worst_status = max((c.status for c in checks), key=STATUS_ORDER.__getitem__, default="pass")
    return "pass" if worst_status == "no_data" else worst_status


def to_dict(checks: list[Check]) -> dict:
    counts = {s: sum(c.status == s for c in checks) for s in STATUS_ORDER}
    return {"result": overall(checks), "counts": counts, "checks": [asdict(c) for c in checks]}


def render(checks: list[Check], language: str = "en") -> str:
    counts = {s: sum(c.status == s for c in checks) for s in STATUS_ORDER}
    lines = [load_hints(language)["status"]["check_head"].format(**counts)]
    for c in sorted(checks, key=lambda c: -STATUS_ORDER[c.status]):
        shown = "NODATA" if c.status == "no_data" else c.status.upper()
        lines.append(f"  {shown:<5} {c.title:<28} {c.detail}")
        if c.status != "pass":
            lines.append(f"        -> {c.hint}")
    return "\n".join(lines)
