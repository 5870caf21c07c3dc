"""Turn a ReportRequest into an accepted report: collect, bundle, spool to the outbox."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from agent.bundle import Section, to_json, write_bundle
from agent.checks import run_checks, to_dict
from agent.config import AgentConfig
from agent.outbox import Entry, Outbox
from agent.request import ReportRequest, new_report_id


def report_sections(cfg: AgentConfig, readings: dict, health: dict, faults: list[dict] | None = None,
                    timeline: list[dict] | None = None, history: dict | None = None, buses: dict | None = None,
                    outbox: dict | None = None, mqtt_connected: bool | None = None) -> dict[str, object]:
    """Every section of a report, from what the running parts know and a fresh health snapshot."""
    faults = faults or []
    checks = run_checks(cfg, readings, health, faults, outbox, mqtt_connected)
    return {
        "readings": readings,
        "history": history or {},
        "faults": {"active": faults, "timeline": timeline or []},
        "buses": buses or {},
        "checks": to_dict(checks),
        "system": health["system"],
        "network": health["network"],
        "software": health["software"],
        "hooks": {name: result.to_dict() for name, result in health["hooks"].items()},
    }


def make_manifest(cfg: AgentConfig, request: ReportRequest, report_id: str, software: dict,
                  wall: float, mono: float, clock_synced: bool | None = None) -> dict:
    return {
        "report_id": report_id,
        "device": {"model": cfg.device.model, "serial": cfg.device.serial, "order_number": cfg.device.order_number},
        "software": software,
        "trigger": request.reason,
        "priority": request.priority,
        "on_site": request.on_site,
        "subject": request.subject,
        "description": request.description,
        "email": request.email,
        "case_ref": request.case_ref,
        "created": {
            "wall": round(wall, 3),
            "wall_iso": datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="seconds"),
            "monotonic": round(mono, 3),
            "clock_synced": clock_synced,
        },
    }


def make_report(cfg: AgentConfig, request: ReportRequest, sections: dict[str, object], outbox: Outbox) -> Entry:
    """Build the bundle straight into the outbox; once this returns the report is accepted."""
    wall, mono = time.time(), time.monotonic()
    report_id = new_report_id(wall)
    software = {k: sections["software"][k] for k in ("firmware_version", "channel", "agent_version", "verdict")}
    manifest = make_manifest(cfg, request, report_id, software, wall, mono, sections["system"]["clock_synced"])
    files = [Section(f"{name}.json", to_json(data)) for name, data in sections.items()]
    entry = Entry(report_id=report_id, priority=request.priority, on_site=request.on_site, created=wall,
                  extra={"subject": request.subject, "reason": request.reason, "case_ref": request.case_ref})
    return outbox.spool(entry, lambda f: write_bundle(f, manifest, files))
