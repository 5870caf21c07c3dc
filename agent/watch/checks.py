"""The self-check: the judge's verdicts (watch/judge.py) as a checklist, pass / warn / fail / no data,
each with a plain-language hint in the box's language (agent/lang/). Nothing is judged here: this module
only chooses the words and groups the device judgements the list shows once for the box."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from agent.collect import Box
from agent.config import AgentConfig
from agent.vocab import Status
from agent.watch.judge import (
    Judgement,
    Links,
    judge_devices,
    judge_health,
    judge_links,
    locate,
    network_verdict,
    shown_status,
    software_verdict,
    worst,
)


@dataclass
class Check:
    id: str
    title: str
    status: Status
    detail: str
    hint: str
    faults: list[str]  # the faults ("code|subject") this check is the evidence of


def load_hints(language: str = "en") -> dict:
    """The self-check's titles and hints in LANGUAGE (agent/lang/)."""
    from agent.lang import load

    return load(language)


class _Builder:
    def __init__(self, language: str):
        self.hints = load_hints(language)
        self.checks: list[Check] = []

    def add(
        self,
        check_id: str,
        status: Status,
        detail: str,
        variant: str | None = None,
        name: str | None = None,
        faults: tuple[str, ...] = (),
        **fill,
    ) -> None:
        text = self.hints[check_id][variant or status]
        title = self.hints["titles"][check_id] + (f" {name}" if name else "")
        check_id = f"{check_id}:{name}" if name else check_id
        self.checks.append(Check(check_id, title, status, detail, text.format(detail=detail, **fill), list(faults)))

    def judged(
        self, check_id: str, j: Judgement, name: str | None = None, pending: bool = False, faults: tuple[str, ...] = ()
    ) -> None:
        """Show judgement J. PENDING: it names a fault that has not held long enough to be raised yet,
        so it is a warning, not a failure."""
        status = shown_status(j, pending)
        named = faults or ((f"{j.fault}|{j.subject}",) if j.fault else ())
        self.add(check_id, status, j.detail, j.variant or status, name, named, **j.fill)

    def said(self, j: Judgement) -> str:
        """What judgement J saw, in this language: the fault's own sentence, else the judge's plain detail."""
        from agent.watch.explain import seen

        return seen(self.hints["page"], j.fault or "", j.subject, j.fill, j.detail) if j.fault else j.detail


def links_of(cfg: AgentConfig, box: Box) -> Links:
    return Links(
        cfg.backend.url,
        cfg.mqtt.enabled,
        f"{cfg.mqtt.host}:{cfg.mqtt.port}",
        box.mqtt_connected,
        box.mqtt_not_authorized,
        box.mqtt_problem,
    )


@dataclass(frozen=True)
class Judged:
    """Every judgement of one look, by subject (the judge's, watch/judge/)."""

    devices: list[Judgement]
    health: list[Judgement]
    links: list[Judgement]

    @property
    def all(self) -> list[Judgement]:
        return self.devices + self.health + self.links


def judge_box(cfg: AgentConfig, box: Box) -> Judged:
    return Judged(
        judge_devices(box.devices, cfg.faults, box.scans),
        judge_health(box.health, cfg.health),
        judge_links(links_of(cfg, box), box.health, box.outbox),
    )


def run_checks(cfg: AgentConfig, box: Box, language: str | None = None, judged: Judged | None = None) -> list[Check]:
    """The checklist from a Box (agent/collect): device readings, health, active faults, the outbox; in LANGUAGE,
    else the box's."""
    b = _Builder(language or cfg.language)
    active = {(f["code"], f["device"]) for f in box.faults}
    judged = judged or judge_box(cfg, box)
    devices = judged.devices
    box_health = {j.topic: j for j in judged.health}
    links = {j.topic: j for j in judged.links}

    b.judged("software", box_health["software"])
    for j in (j for j in devices if j.topic == "device"):
        key = "device_meter" if box.devices[j.subject].kind == "meter" else "device_charge_controller"
        b.judged(key, j, name=j.subject)
    for topic in ("charging", "grid"):
        _grouped(b, topic, [j for j in devices if j.topic == topic], active)
    b.judged("network", links.get("network") or box_health["network"])
    if "broker" in links:
        b.judged("broker", links["broker"])
    for topic in ("clock", "disk", "temperature", "power_supply", "memory"):
        b.judged(topic, box_health[topic])
    for topic in ("commissioning", "cloud_credentials", "hooks", "outbox"):
        if topic in links:
            b.judged(topic, links[topic])
    return b.checks


def _grouped(b: _Builder, topic: str, found: list[Judgement], active: set) -> None:
    """One line for the box from every device's judgement of TOPIC: the worst, with each one's words."""
    bad = [j for j in found if j.status >= Status.WARN]
    if bad:
        message = "; ".join(b.said(j) for j in bad)
        pending = all(j.fault and (j.fault, j.subject) not in active for j in bad)
        b.judged(
            topic,
            Judgement(
                topic,
                "box",
                worst(bad),
                "; ".join(j.detail for j in bad),
                fill={"message": message[:1].upper() + message[1:]},
            ),
            pending=pending,
            faults=tuple(f"{j.fault}|{j.subject}" for j in bad if j.fault),
        )
    elif not found:  # nothing configured reads it: say so, not "it does not answer"
        b.add(topic, Status.NO_DATA, "no device reads it", "unconfigured")
    elif any(j.status is Status.NO_DATA for j in found):
        b.add(topic, Status.NO_DATA, "; ".join(j.detail for j in found if j.status is Status.NO_DATA), "none")
    else:
        b.add(topic, Status.PASS, found[0].detail if len(found) == 1 else "in range")


def overall(checks: list[Check]) -> str:
    """The list's result: its worst item; no data alone neither passes nor fails the list."""
    worst_status = Status.worst((c.status for c in checks), Status.PASS)
    return Status.PASS if worst_status is Status.NO_DATA else worst_status


def judged(cfg: AgentConfig, box: Box, language: str | None = None) -> Box:
    """BOX with the judge's verdicts on it: the one judgement of a look, read by the report, the page and the
    CLI alike (nothing after this judges again). The checks' words are in LANGUAGE, else the box's."""
    health, judgements = box.health, judge_box(cfg, box)
    verdicts = {
        "network": network_verdict(health["network"]),
        "software": {"verdict": software_verdict(health["software"])},
        "where": [f.to_dict() for f in locate(box.faults, judgements.all)],
    }
    return box.but(checks=to_dict(run_checks(cfg, box, language, judgements)), verdicts=verdicts)


def answer(box: Box) -> dict:
    """What `diag-agent check` shows of a judged look: the checklist and where the fault is."""
    return dict(box.checks or {}, where=(box.verdicts or {}).get("where", []))


def to_dict(checks: list[Check]) -> dict:
    counts = {s: sum(c.status == s for c in checks) for s in Status}
    return {"result": overall(checks), "counts": counts, "checks": [asdict(c) for c in checks]}


def render(checks: list[Check], language: str = "en") -> str:
    counts = {s: sum(c.status == s for c in checks) for s in Status}
    lines = [load_hints(language)["status"]["check_head"].format(**counts)]
    for c in sorted(checks, key=lambda c: -Status(c.status).rank):
        status = Status(c.status)  # a scrubbed answer holds the words, not the members
        shown = "NODATA" if status is Status.NO_DATA else status.upper()
        lines.append(f"  {shown:<5} {c.title:<28} {c.detail}")
        if status is not Status.PASS:
            lines.append(f"        -> {c.hint}")
    return "\n".join(lines)
