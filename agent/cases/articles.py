"""What the box says in a case besides reports: an answer to support's question, a photo. Each is a small
bundle (manifest.json first, then its content) spooled in the outbox like a report, so it travels the same
way: durably, exactly once by its id, with the priority of its case."""

from __future__ import annotations

import time

from agent.cases import PHOTO_LABELS
from agent.cases.photos import Photo
from agent.config import AgentConfig
from agent.fields import ANSWER_CHARS
from agent.outbox import Entry, Outbox
from agent.redact import Secrets
from agent.report.bundle import Section, write_bundle
from agent.report.manifest import Manifest
from agent.request import new_report_id

MAX_ANSWER = ANSWER_CHARS[1]


def _spool(
    cfg: AgentConfig,
    outbox: Outbox,
    kind: str,
    case: str,
    priority: str,
    on_site: bool,
    subject: str,
    fields: dict,
    members: list[Section],
    extra: dict,
    secrets: Secrets,
) -> Entry:
    """EXTRA: what the page shows of it (the answer's words, the question, the photo's label). What goes
    to support and what the page shows is scrubbed of every secret the box knows."""
    wall = time.time()
    report_id = new_report_id(wall)
    own = {"case_ref": case, "priority": priority, "on_site": on_site, "subject": subject, **fields}
    manifest = Manifest(report_id, kind, kind, cfg.device, wall, time.monotonic(), fields=own).to_dict()
    manifest, extra = secrets.strings(manifest, "manifest"), secrets.strings(extra, "manifest")
    entry = Entry(
        report_id=report_id,
        priority=priority,
        on_site=on_site,
        created=wall,
        extra={
            "subject": subject,
            "reason": kind,
            "case_ref": case,
            "kind": kind,
            **{k: v for k, v in extra.items() if v},
        },
    )
    return outbox.spool(entry, lambda out: write_bundle(out, manifest, members))


def answer(
    cfg: AgentConfig,
    outbox: Outbox,
    case: str,
    question: str | None,
    text: str,
    priority: str,
    on_site: bool,
    secrets: Secrets,
) -> Entry:
    """Spool an answer to QUESTION of CASE (None: a reply to the case). Secrets are scrubbed from it like from
    a report."""
    text = secrets.text(text.strip(), "answer")[:MAX_ANSWER]
    return _spool(
        cfg,
        outbox,
        "answer",
        case,
        priority,
        on_site,
        f"Answer to {question} on {case}" if question else f"Reply on {case}",
        {"question": question, "text": text},
        [Section("answer.txt", text.encode() + b"\n")],
        {"text": text[:500], "question": question},  # shown back on the page, scrubbed like the answer
        secrets,
    )


def photo(
    cfg: AgentConfig,
    outbox: Outbox,
    case: str,
    label: str,
    picture: Photo,
    priority: str,
    on_site: bool,
    secrets: Secrets,
    question: str | None = None,
) -> Entry:
    """Spool a photo (already checked and stripped: cases/photos.py) for CASE; QUESTION: the request it answers."""
    what = PHOTO_LABELS[label]
    return _spool(
        cfg,
        outbox,
        "photo",
        case,
        priority,
        on_site,
        f"Photo for {case}: {what}",
        {
            "label": what,
            "width": picture.width,
            "height": picture.height,
            "removed": picture.removed,
            **({"question": question} if question else {}),
        },
        [Section(f"photo.{picture.kind}", picture.data)],
        {"label": label, "question": question},
        secrets,
    )


def feedback(
    cfg: AgentConfig, outbox: Outbox, case: str, easy: bool, priority: str, on_site: bool, secrets: Secrets
) -> Entry:
    """Spool the one-question satisfaction check of a solved CASE: was getting help easy?"""
    said = "easy" if easy else "not easy"
    return _spool(
        cfg,
        outbox,
        "feedback",
        case,
        priority,
        on_site,
        f"Satisfaction check for {case}: {said}",
        {"easy": easy},
        [Section("feedback.txt", f"Getting help was {said}.\n".encode())],
        {"easy": said},
        secrets,
    )
