"""Turn a ReportRequest into an accepted report: collect -> redact -> bundle (within the size cap) -> outbox."""

from __future__ import annotations

import copy
import os
import secrets as random_secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from agent.bundle import Section, to_json, write_bundle
from agent.checks import run_checks, to_dict
from agent.collect.history import decode_buckets, decode_raw, encode_buckets, encode_raw
from agent.config import AgentConfig
from agent.outbox import Entry, Outbox
from agent.redact import Redactor
from agent.report_html import render
from agent.request import ReportRequest, new_report_id

MIN_LOG_LINES = 20  # cutting stops here; then history resolution goes
MIN_BUCKETS = 48


def report_sections(cfg: AgentConfig, readings: dict, health: dict, faults: list[dict] | None = None,
                    timeline: list[dict] | None = None, history: dict | None = None, buses: dict | None = None,
                    outbox: dict | None = None, mqtt_connected: bool | None = None,
                    agent_log: list[str] | None = None) -> dict[str, object]:
    """Every section of a report, from what the running parts know and a fresh health snapshot."""
    faults = faults or []
    checks = run_checks(cfg, readings, health, faults, outbox, mqtt_connected)
    hooks = {name: result.to_dict() for name, result in health["hooks"].items()}
    logs = {"agent": list(agent_log or [])}
    fw_logs = hooks.get("firmware_logs", {}).get("output") or {}
    for path, entry in (fw_logs.get("files") or {}).items():
        if "lines" not in entry:
            continue  # unreadable: the hook's output says why
        name = f"fw-{Path(path).name}"
        logs[name] = entry["lines"]
        if entry.get("truncated"):
            logs.setdefault("_truncated_by_hook", []).append(
                f"{name} ({path}): newest {len(entry['lines'])} lines of {entry.get('bytes')} bytes")
    if fw_logs:
        hooks["firmware_logs"]["output"] = {"moved_to": sorted(f"log-{k}.txt" for k in logs if k != "agent"
                                                               and not k.startswith("_"))}
    return {
        "readings": readings,
        "history": history or {},
        "faults": {"active": faults, "timeline": timeline or []},
        "buses": buses or {},
        "checks": to_dict(checks),
        "system": health["system"],
        "network": health["network"],
        "software": health["software"],
        "hooks": hooks,
        "config": cfg.as_dict(),
        "logs": logs,
    }


def make_manifest(cfg: AgentConfig, request: ReportRequest, report_id: str, software: dict,
                  wall: float, mono: float, clock_synced: bool | None = None) -> dict:
    return {
        "report_id": report_id,
        "device": {"model": cfg.device.model, "serial": cfg.device.serial, "order_number": cfg.device.order_number},
        "software": software,
        "trigger": request.reason,
        "trigger_details": request.details,
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


def make_summary(cfg: AgentConfig, request: ReportRequest, sections: dict) -> dict:
    """The support checklist, answered: what remote support asks first."""
    sw, hooks, checks = sections["software"], sections["hooks"], sections["checks"]

    def hook_says(name, field):
        h = hooks.get(name) or {}
        return bool(h.get("ok") and (h.get("output") or {}).get(field))

    return {
        "model": cfg.device.model, "serial": cfg.device.serial, "order_number": cfg.device.order_number,
        "firmware_version": sw.get("firmware_version"), "software_verdict": sw.get("verdict"),
        "latest_version": (sw.get("latest") or {}).get("version"), "channel": sw.get("channel"),
        "commissioning_protocol": hook_says("commissioning", "present"),
        "cloud_credentials": hook_says("cloud_credentials", "configured"),
        "previous_case": request.case_ref, "on_site": request.on_site, "priority": request.priority,
        "subject": request.subject, "description": request.description, "email": request.email,
        "network": sections["network"].get("verdict_text"),
        "active_faults": [{k: f[k] for k in ("code", "severity", "category", "device", "message")}
                          for f in sections["faults"]["active"]],
        "self_check": {"result": checks["result"], "counts": checks["counts"],
                       "failing": [c["title"] for c in checks["checks"] if c["status"] == "fail"]},
    }


def hook_secrets(sections: dict) -> list[str]:
    """Values the hooks declare secret; the declaration itself never reaches the report."""
    found = []
    for result in sections["hooks"].values():
        output = result.get("output") or {}
        declared = output.pop("secrets", None)
        if isinstance(declared, list):
            found += [s for s in declared if isinstance(s, str)]
    return found


def pseudonym_key(state_dir: str) -> bytes:
    """A per-device random key: the same identifier gets the same pseudonym in every report of this box."""
    path = Path(state_dir) / "pseudonym.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = random_secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another report made it a moment ago
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        return key


class _Cutter:
    """Makes a report smaller in a fixed order: oldest log lines first, then history resolution."""

    def __init__(self, content: dict):
        self.content = content

    def next_cut(self) -> str | None:
        logs = {k: v for k, v in self.content["logs"].items() if not k.startswith("_")}
        name, lines = max(logs.items(), key=lambda kv: len(kv[1]), default=(None, []))
        if name and len(lines) > MIN_LOG_LINES:
            keep = max(MIN_LOG_LINES, len(lines) // 2)
            self.content["logs"][name] = lines[-keep:]
            return f"log {name}: oldest {len(lines) - keep} lines dropped, newest {keep} kept"
        series = [e for vals in self.content["history"].values() for e in vals.values()]
        thick = [e for e in series if len(e["raw"].get("v", [])) > 60]
        if thick:
            for e in thick:
                e["raw"] = encode_raw(decode_raw(e["raw"])[1::2])
            return "history: raw samples of the last hour thinned to every second one"
        coarse = [e for e in series if len(e["buckets"].get("n", [])) > MIN_BUCKETS]
        if coarse:
            for e in coarse:
                e["buckets"] = encode_buckets(_merge_pairs(decode_buckets(e["buckets"])))
            return "history: bucket resolution halved"
        return None


def _merge_pairs(buckets: list[tuple]) -> list[tuple]:
    out = []
    for i in range(0, len(buckets) - 1, 2):
        (w, lo1, m1, hi1, n1), (_, lo2, m2, hi2, n2) = buckets[i], buckets[i + 1]
        n = n1 + n2
        out.append((w, min(lo1, lo2), (m1 * n1 + m2 * n2) / n if n else m1, max(hi1, hi2), n))
    if len(buckets) % 2:
        out.append(buckets[-1])
    return out


def _members(content: dict) -> list[Section]:
    members = []
    for name, data in content.items():
        if name == "logs":
            for log, lines in data.items():
                if not log.startswith("_"):
                    members.append(Section(f"log-{log}.txt", ("\n".join(lines) + "\n").encode() if lines else b""))
        else:
            members.append(Section(f"{name}.json", to_json(data, compact=name == "history")))
    return members


def build(out: BinaryIO, cfg: AgentConfig, request: ReportRequest, sections: dict, report_id: str,
          wall: float, mono: float) -> dict:
    """Redact, then write the bundle to OUT, cutting in a fixed order until it fits report.max_bytes."""
    content = copy.deepcopy(sections)
    declared = hook_secrets(content)
    redactor = Redactor(cfg.secrets() + declared,
                        pseudonym_key(cfg.state_dir) if cfg.report.pseudonymise else None)
    content = {name: redactor.data(data, name) for name, data in content.items()}
    request = copy.copy(request)
    for field in ("subject", "description", "email", "case_ref"):
        if getattr(request, field):
            setattr(request, field, redactor.text(getattr(request, field), "manifest"))
    software = {k: content["software"].get(k) for k in ("firmware_version", "channel", "agent_version", "verdict")}
    base = make_manifest(cfg, request, report_id, software, wall, mono, content["system"].get("clock_synced"))
    base["redactions"] = redactor.summary()
    base["failed"] = failed_sections(content)
    if request.sections:  # support asked for these only; the summary and the page still see everything
        base["sections_requested"] = sorted(request.sections)

    def members() -> list[Section]:
        return _members({k: v for k, v in content.items() if not request.sections or k in request.sections})

    summary = make_summary(cfg, request, content)
    cutter, cuts = _Cutter(content), []
    for note in content["logs"].pop("_truncated_by_hook", []):
        cuts.append({"what": f"log {note}", "why": "the firmware_logs hook keeps the newest lines only"})
    while True:
        manifest = dict(base, cuts=list(cuts), max_bytes=cfg.report.max_bytes)
        page = render(manifest, summary, content)
        out.seek(0)
        out.truncate()
        manifest = write_bundle(out, manifest, [Section("summary.json", to_json(summary)),
                                                Section("report.html", page.encode())] + members())
        if out.tell() <= cfg.report.max_bytes:
            return manifest
        cut = cutter.next_cut()
        if cut is None:
            # Nothing more may go: the manifest, summary and page stay whole, over the cap if need be.
            cuts.append({"what": "nothing more to cut", "why": f"still {out.tell()} bytes, over the cap"})
            manifest = dict(base, cuts=list(cuts), max_bytes=cfg.report.max_bytes)
            out.seek(0)
            out.truncate()
            return write_bundle(out, manifest, [Section("summary.json", to_json(summary)),
                                                Section("report.html", render(manifest, summary, content).encode())]
                                + members())
        cuts.append({"what": cut, "why": f"over the {cfg.report.max_bytes} byte cap"})


def failed_sections(content: dict) -> list[dict]:
    """Sections or hooks that failed or timed out, and why."""
    out = [{"section": name, "why": data["error"]} for name, data in content.items()
           if isinstance(data, dict) and isinstance(data.get("error"), str)]
    for name, h in content["hooks"].items():
        if not h.get("ok"):
            timed_out = "did not finish" in (h.get("error") or "")
            out.append({"section": f"hooks/{name}", "why": h.get("error"), "timed_out": timed_out})
    return out


def make_report(cfg: AgentConfig, request: ReportRequest, sections: dict[str, object], outbox: Outbox) -> Entry:
    """Build the bundle straight into the outbox; once this returns the report is accepted."""
    wall, mono = time.time(), time.monotonic()
    report_id = new_report_id(wall)
    entry = Entry(report_id=report_id, priority=request.priority, on_site=request.on_site, created=wall,
                  extra={"subject": request.subject, "reason": request.reason, "case_ref": request.case_ref})
    return outbox.spool(entry, lambda f: build(f, cfg, request, sections, report_id, wall, mono))
