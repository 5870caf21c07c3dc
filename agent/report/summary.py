"""The manifest (what the report is, for whom, when) and the summary (the support checklist, answered)."""

from __future__ import annotations

from agent.config import AgentConfig
from agent.report.manifest import Manifest
from agent.request import ReportRequest


def make_manifest(
    cfg: AgentConfig,
    request: ReportRequest,
    report_id: str,
    software: dict,
    wall: float,
    mono: float,
    clock_synced: bool | None = None,
) -> dict:
    fields = {
        "software": software,
        "trigger_details": request.details,
        "priority": request.priority,
        "on_site": request.on_site,
        "subject": request.subject,
        "description": request.description,
        "email": request.email,
        "case_ref": request.case_ref,
    }
    if request.question:  # the backend marks support's data request answered by it
        fields["question"] = request.question
    return Manifest(report_id, "report", request.reason, cfg.device, wall, mono, clock_synced, fields).to_dict()


def make_summary(cfg: AgentConfig, request: ReportRequest, sections: dict) -> dict:
    """The support checklist, answered: what remote support asks first."""
    # A collector's value may be missing (None, or no key): the summary then says so by a None.
    sw = sections.get("software") or {}
    hooks = sections.get("hooks") or {}
    checks = sections["checks"]

    def hook_says(name, field):
        h = hooks.get(name) or {}
        return bool(h.get("ok") and (h.get("output") or {}).get(field))

    return {
        "model": cfg.device.model,
        "serial": cfg.device.serial,
        "order_number": cfg.device.order_number,
        "firmware_version": sw.get("firmware_version"),
        "software_verdict": sw.get("verdict"),
        "latest_version": (sw.get("latest") or {}).get("version"),
        "channel": sw.get("channel"),
        "commissioning_protocol": hook_says("commissioning", "present"),
        "cloud_credentials": hook_says("cloud_credentials", "configured"),
        "previous_case": request.case_ref,
        "on_site": request.on_site,
        "priority": request.priority,
        "subject": request.subject,
        "description": request.description,
        "email": request.email,
        "network": (sections.get("network") or {}).get("verdict_text"),
        "active_faults": [
            {k: f[k] for k in ("code", "severity", "category", "device", "message")}
            for f in sections["faults"]["active"]
        ],
        "self_check": {
            "result": checks["result"],
            "counts": checks["counts"],
            "failing": [c["title"] for c in checks["checks"] if c["status"] == "fail"],
        },
    }


def failed_sections(content: dict) -> list[dict]:
    """Sections or hooks that failed or timed out, and why."""
    out = [
        {"section": name, "why": data["error"]}
        for name, data in content.items()
        if isinstance(data, dict) and isinstance(data.get("error"), str)
    ]
    for name, h in (content.get("hooks") or {}).items():
        h = h if isinstance(h, dict) else {"error": "no result"}  # a hook whose result went missing failed
        if not h.get("ok"):
            timed_out = "did not finish" in (h.get("error") or "")
            out.append({"section": f"hooks/{name}", "why": h.get("error"), "timed_out": timed_out})
    return out
