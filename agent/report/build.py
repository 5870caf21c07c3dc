"""The one pipeline that builds a report: sections collected from a Box -> redact -> bundle
(cut in a fixed order until it fits the size cap) -> spooled in the outbox, or written to a file."""

from __future__ import annotations

import copy
import logging
import secrets as random_secrets
import time
from typing import BinaryIO

from agent.clock import utc_iso
from agent.collect import Box
from agent.config import AgentConfig
from agent.outbox import Entry, Outbox, urgency
from agent.paths import state_path
from agent.redact import Redactor
from agent.report.bundle import Section, to_json, write_bundle
from agent.report.manifest import Manifest
from agent.report.page import render
from agent.report.sections import SECTIONS
from agent.report.summary import failed_sections, make_manifest, make_summary
from agent.request import ReportRequest, new_report_id
from agent.storage import create_once
from agent.transports.budget import THIN_NOTE, Budget, Thrift, thrift

log = logging.getLogger(__name__)

BY_NAME = {m.NAME: m for m in SECTIONS}


def collect_sections(cfg: AgentConfig, box: Box) -> dict[str, object]:
    """Every section's data, in bundle order."""
    return {m.NAME: m.collect(box, cfg) for m in SECTIONS}


def hook_secrets(sections: dict) -> list[str]:
    """Values the hooks declare secret; the declaration itself never reaches the report."""
    found = []
    for result in (sections.get("hooks") or {}).values():
        output = (result.get("output") if isinstance(result, dict) else None) or {}
        declared = output.pop("secrets", None)
        if isinstance(declared, list):
            found += [s for s in declared if isinstance(s, str)]
    return found


def pseudonym_key(state_dir: str) -> bytes:
    """A per-device random key: the same identifier gets the same pseudonym in every report of this box."""
    return create_once(state_path(state_dir, "pseudonym_key"), lambda: random_secrets.token_bytes(32))


def _members(content: dict, wanted: list[str]) -> list[Section]:
    members = []
    for name, data in content.items():
        if wanted and name not in wanted:
            continue
        module = BY_NAME[name]
        if hasattr(module, "members"):
            members += module.members(data)
        else:
            members.append(Section(f"{name}.json", to_json(data, compact=getattr(module, "COMPACT", False))))
    return members


def _next_cut(content: dict) -> str | None:
    for module in sorted((m for m in SECTIONS if hasattr(m, "cut")), key=lambda m: m.CUT_ORDER):
        note = module.cut(content[module.NAME])
        if note:
            return note
    return None


def held_by_case(outbox: Outbox, case_ref: str | None) -> tuple[str, float] | None:
    """The newest report of this box that CASE_REF's case holds (delivered to it): its id and when it was made.
    A follow-up to the case needs no history from before then."""
    if not case_ref:
        return None
    held = [e for e in outbox.entries() if e.receipt and e.receipt.get("case") == case_ref and e.extra.get("history")]
    newest = max(held, key=lambda e: e.created, default=None)
    return (newest.report_id, newest.created) if newest else None


def build(
    out: BinaryIO,
    cfg: AgentConfig,
    request: ReportRequest,
    sections: dict,
    report_id: str,
    wall: float,
    mono: float,
    held: tuple[str, float] | None = None,
    thrift: Thrift | None = None,
) -> dict:
    """Redact, then write the bundle to OUT, cutting in a fixed order until it fits report.max_bytes. HELD: the
    report of the same case that holds the history up to its time (held_by_case): the history starts there.
    THRIFT: what the data budget asks (transports/budget.py): a coarser history, a smaller cap."""
    content = _scoped(copy.deepcopy(sections), request, held)
    redactor = Redactor(
        cfg.secrets() + hook_secrets(content), pseudonym_key(cfg.state_dir) if cfg.report.pseudonymise else None
    )
    content = {
        name: BY_NAME[name].redact(data, redactor) if hasattr(BY_NAME[name], "redact") else redactor.data(data, name)
        for name, data in content.items()
    }
    request = _redacted_request(request, redactor)
    base = _manifest(cfg, request, report_id, content, wall, mono, held)
    base["redactions"] = redactor.summary()
    summary = make_summary(cfg, request, content)
    cuts = [
        {"what": f"log {note}", "why": "the firmware_logs hook keeps the newest lines only"}
        for note in content["logs"].pop("_truncated_by_hook", [])
    ]
    cap, why_cap = _cap(cfg, thrift, content, cuts)

    def write(note_over_cap: bool = False) -> dict:
        if note_over_cap:
            cuts.append({"what": "nothing more to cut", "why": f"still {out.tell()} bytes, over the cap"})
        manifest = dict(base, cuts=list(cuts), max_bytes=cap)
        page = render(manifest, summary, content, cfg.language, cfg.timezone)
        out.seek(0)
        out.truncate()
        return write_bundle(
            out,
            manifest,
            [Section("summary.json", to_json(summary)), Section("report.html", page.encode())]
            + _members(content, request.sections),
        )

    while True:
        manifest = write()
        if out.tell() <= cap:
            return manifest
        cut = _next_cut(content)
        if cut is None:
            # Nothing more may go: the manifest, summary and page stay whole, over the cap if need be.
            return write(note_over_cap=True)
        cuts.append({"what": cut, "why": why_cap})


def _scoped(content: dict, request: ReportRequest, held: tuple[str, float] | None) -> dict:
    """History, timeline and logs of the request's window only (sections/*.window); else the history from where
    the case's earlier report (HELD) left off."""
    if request.window:
        return {
            name: BY_NAME[name].window(data, *request.window) if hasattr(BY_NAME[name], "window") else data
            for name, data in content.items()
        }
    if held and "history" in content:
        content["history"] = BY_NAME["history"].window(content["history"], held[1], None)
    return content


def _redacted_request(request: ReportRequest, redactor: Redactor) -> ReportRequest:
    request = copy.copy(request)
    for field in ("subject", "description", "email", "case_ref"):
        if getattr(request, field):
            setattr(request, field, redactor.text(getattr(request, field), "manifest"))
    return request


def _manifest(
    cfg: AgentConfig,
    request: ReportRequest,
    report_id: str,
    content: dict,
    wall: float,
    mono: float,
    held: tuple[str, float] | None,
) -> dict:
    """The manifest's fields before any cut: who, what, when, what failed, what the request narrowed."""
    collected_software, system = content.get("software") or {}, content.get("system") or {}  # either may be missing
    software = {k: collected_software.get(k) for k in ("firmware_version", "channel", "agent_version", "verdict")}
    base = make_manifest(cfg, request, report_id, software, wall, mono, system.get("clock_synced"))
    base["failed"] = failed_sections(content)
    if request.window:
        base["window"] = {
            k: utc_iso(t) if t else None for k, t in zip(("oldest", "latest"), request.window, strict=True)
        }
    if request.sections:  # support asked for these only; the summary and the page still see everything
        base["sections_requested"] = sorted(request.sections)
    if held and not request.window:
        base["history_omitted"] = {
            "before": utc_iso(held[1]),
            "held_by": held[0],
            "why": "the case holds the history up to then already, from that report",
        }
    return base


def _cap(cfg: AgentConfig, thrift: Thrift | None, content: dict, cuts: list[dict]) -> tuple[int, str]:
    """The bundle's byte cap and why, with the data budget's thinning applied to the history (noted in CUTS)."""
    cap, why_cap = cfg.report.max_bytes, f"over the {cfg.report.max_bytes} byte cap"
    if thrift is None:
        return cap, why_cap
    if thrift.thin and content.get("history"):
        content["history"].thin, content["history"].merge = thrift.thin
        cuts.append({"what": THIN_NOTE, "why": thrift.why})
    if thrift.cap is not None and thrift.cap < cap:
        cap, why_cap = thrift.cap, f"{thrift.why}: this report may take {thrift.cap} bytes"
    return cap, why_cap


def make_report(
    cfg: AgentConfig, request: ReportRequest, box: Box, outbox: Outbox, budget: Budget | None = None
) -> Entry:
    """Build the bundle straight into the outbox; once this returns the report is accepted. BUDGET: the data
    budget, which may thin a medium or low report or fit an answer to support into what is left."""
    wall, mono = time.time(), time.monotonic()
    report_id = new_report_id(wall)
    sections = collect_sections(cfg, box)
    # What the outbox keeps and the page serves is scrubbed like the bundle: a subject can hold a secret.
    scrub = Redactor(cfg.secrets())
    entry = Entry(
        report_id=report_id,
        priority=request.priority,
        on_site=request.on_site,
        created=wall,
        extra={
            "subject": scrub.text(request.subject, "outbox"),
            "reason": request.reason,
            "case_ref": request.case_ref,
            "request_id": request.request_id,
            # It carries the box's history up to now (a follow-up to its case may start after it).
            "history": not request.window and (not request.sections or "history" in request.sections),
            # The faults active as it was made: a later fault report of the same incident joins its case.
            "faults": [f"{f['code']}|{f['device']}" for f in box.faults],
            "answer": request.question is not None,  # support asked for it: the data budget never defers it
        },
    )
    held = held_by_case(outbox, request.case_ref)
    spend = thrift(budget, urgency(entry)[0], request.question is not None)
    if spend and (spend.thin or (spend.cap or 0) < cfg.report.max_bytes):  # the manifest's cuts say what went
        log.info("report %s is made to fit %s", report_id, spend.why)
        if spend.thin:
            entry.extra["thinned"] = spend.why
    return outbox.spool(entry, lambda f: build(f, cfg, request, sections, report_id, wall, mono, held, spend))


def export_report(cfg: AgentConfig, request: ReportRequest, box: Box) -> tuple[str, bytes]:
    """The same bundle, written to memory and sent nowhere (`diag-agent report --out`)."""
    import io

    wall, mono = time.time(), time.monotonic()
    report_id = new_report_id(wall)
    buffer = io.BytesIO()
    build(buffer, cfg, request, collect_sections(cfg, box), report_id, wall, mono)
    return report_id, buffer.getvalue()


def export_security_log(cfg: AgentConfig, events: list[dict], window: tuple, known=()) -> tuple[str, bytes]:
    """The SecurityLog an OCPP GetLog asks for: the security events of WINDOW (security.py), scrubbed like
    a report, as a bundle of its own (manifest first, then security-log.json)."""
    import io

    from agent.report.bundle import Section, to_json

    wall = time.time()
    report_id = new_report_id(wall)
    scrub = Redactor([*cfg.secrets(), *known])  # KNOWN: what the hooks declared (redact.Secrets)
    span = {k: utc_iso(t) if t else None for k, t in zip(("oldest", "latest"), window, strict=True)}
    own = {"window": span, "events": len(events)}
    manifest = Manifest(report_id, "security_log", "ocpp", cfg.device, wall, fields=own).to_dict()
    buffer = io.BytesIO()
    write_bundle(buffer, manifest, [Section("security-log.json", to_json(scrub.data(events, "security")))])
    return report_id, buffer.getvalue()
