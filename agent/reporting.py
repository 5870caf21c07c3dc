"""Turn a ReportRequest into an accepted report: collect, bundle, spool to the outbox."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from agent.bundle import Section, to_json, write_bundle
from agent.collect.software import collect_software
from agent.config import AgentConfig
from agent.outbox import Entry, Outbox
from agent.request import ReportRequest, new_report_id


def collect_sections(cfg: AgentConfig, live: dict[str, object]) -> dict[str, object]:
    """LIVE holds what the running parts know (readings, history, faults); the rest is read now."""
    return dict(live, software=collect_software(cfg.device.firmware_version_file))


def make_manifest(cfg: AgentConfig, request: ReportRequest, report_id: str, software: dict,
                  wall: float, mono: float) -> dict:
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
        },
    }


def make_report(cfg: AgentConfig, request: ReportRequest, live: dict[str, object], outbox: Outbox) -> Entry:
    """Build the bundle straight into the outbox; once this returns the report is accepted."""
    wall, mono = time.time(), time.monotonic()
    report_id = new_report_id(wall)
    sections = collect_sections(cfg, live)
    manifest = make_manifest(cfg, request, report_id, sections["software"], wall, mono)
    files = [Section(f"{name}.json", to_json(data)) for name, data in sections.items()]
    entry = Entry(report_id=report_id, priority=request.priority, on_site=request.on_site, created=wall,
                  extra={"subject": request.subject, "reason": request.reason, "case_ref": request.case_ref})
    return outbox.spool(entry, lambda f: write_bundle(f, manifest, files))
