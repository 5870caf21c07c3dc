"""The case conversation as people see it (page, CLI): the box's cases with their reports, support's open
questions first, and how a report that cannot be sent is taken away by hand."""

from __future__ import annotations

from agent.cases.book import NOTES, CaseBook
from agent.config import AgentConfig
from agent.outbox import Entry, Outbox, describe
from agent.vocab import CaseState


def file_name(cfg: AgentConfig, report_id: str) -> str:
    """A downloaded report's file name: whose box, which report."""
    return f"diag-report-{cfg.device.identity}-{report_id}.tar.gz"


def take_away(cfg: AgentConfig, entry: Entry, outbox: Outbox | None = None) -> dict:
    """How a report is sent by hand: its file (where it lies on the box, and the name to give it), the support
    address, the subject (on site says so first)."""
    s = cfg.support
    subject = s.subject.format(
        serial=cfg.device.identity, subject=entry.extra.get("subject", ""), report_id=entry.report_id
    )
    return {
        "file_name": file_name(cfg, entry.report_id),
        "path": str(outbox.bundle_path(entry.report_id)) if outbox else None,
        "email": s.email or None,
        "subject": ("ON SITE - " if entry.on_site else "") + subject,
    }


def case_view(cfg: AgentConfig, outbox: Outbox, book: CaseBook, cases_error: str | None = None) -> dict:
    entries = sorted(outbox.entries(), key=lambda e: e.created, reverse=True)
    reports = [dict(describe(e), take_away=None if e.delivered else take_away(cfg, e, outbox)) for e in entries]
    cases = book.cases()
    known = {c["case"] for c in cases}
    for r in reports:  # delivered, but support has said nothing of the case yet
        if r["case"] and r["case"] not in known:
            known.add(r["case"])
            cases.append(
                {
                    "case": r["case"],
                    "state": None,
                    "priority": r["priority"],
                    "subject": r["subject"],
                    "messages": [],
                    "open_questions": [],
                    "note": NOTES[CaseState.NOT_HEARD],
                }
            )
    for c in cases:
        c["box_reports"] = [r["report_id"] for r in reports if r["case"] == c["case"]]
    questions = [dict(q, case=c["case"]) for c in cases if c["state"] != "solved" for q in c["open_questions"]]
    return {
        "cases": cases,
        "reports": reports,
        "open_questions": questions,
        "support_email": cfg.support.email or None,
        "cases_error": cases_error,
    }
