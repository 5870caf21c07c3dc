"""The intake's side of the conversation after filing: what staff wrote in the helpdesk taken into the case
(once each, by whichever worker), articles the helpdesk missed posted again, the chase, and the case as its
box reads it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.contract import MAX_MESSAGES as MESSAGES_TO_BOX
from backend.helpdesk.desk import DeskError, Said, read_note
from backend.rules import Rejected, open_questions, working_days_between
from backend.text import files_of

if TYPE_CHECKING:
    from backend.rules.cases import CaseStore

log = logging.getLogger("intake")
REMINDER = (
    "Reminder: support is still waiting for your answer to the question above. Without an answer the case "
    "will be closed."
)


def sync_case(store: CaseStore, number: str) -> dict:
    """Takes the ticket's new staff follow-ups into the case and posts what the helpdesk has not yet taken."""
    with store.db.tx() as t:
        case = t.case(number)
        if case is None:
            raise Rejected(404, f"no case {number}")
        try:
            notes = store.desk.notes(case)
        except DeskError as exc:
            log.info("case %s: the helpdesk is not answering (%s); asked again later", number, exc)
            return case
        changed = False
        for note in notes:
            if t.take_note(note.desk_id, number):  # not taken before, nor the intake's own
                changed = _take_note(store, case, note) or changed
        for article in [a for a in case["articles"] if a["by"] == "box" and a.get("desk") is None]:
            store._post(t, case, article, files_of(article, *_bundle(store, article)))
        if changed:
            case["version"] += 1
            _update_desk(store, case)
        t.save(case)
    if changed:
        store.on_change(case)
    return case


def _take_note(store: CaseStore, case: dict, note) -> bool:
    """One follow-up staff wrote, into CASE; whether the box must hear of it."""
    changed = False
    if note.public and note.text.strip():
        store._support_says(case, read_note(note.text, store.sections), None, note.at, note.desk_id)
        changed = True
    reopened_while_waiting = note.state == "open" and case["state"] == "waiting"
    if note.state and note.state != case["state"] and not reopened_while_waiting:
        case["state"] = note.state  # staff resolved, closed or reopened the ticket
        changed = True
    if note.desk_status is not None:
        case["desk_status"] = note.desk_status
    return changed


def _bundle(store: CaseStore, article: dict) -> tuple:
    from agent.report.bundle import read_bundle

    path = store.bundle_path(article["sha256"])
    manifest, members = read_bundle(path.read_bytes())
    return manifest, members, path


def _update_desk(store: CaseStore, case: dict) -> None:
    try:
        store.desk.update(case)
    except DeskError as exc:
        log.info("case %s: the ticket's status is set again later (%s)", case["case"], exc)


def _tell(store: CaseStore, t, case: dict, said: Said | None, solve: str | None, now: float) -> None:
    """The intake's own words in a case (the chase's): in the case, and as a follow-up on its ticket."""
    store._support_says(case, said, solve, now)
    case["version"] += 1
    text = said.text if said else solve
    try:
        desk_id = store.desk.post(case, text or "", [])
        if desk_id:
            t.take_note(desk_id, case["case"])
    except DeskError as exc:
        log.warning("case %s: the helpdesk did not take the chase's note: %s", case["case"], exc)
    t.save(case)


def chase(store: CaseStore, now: float) -> list[str]:
    """Remind once about a question unanswered for chase_days working days; solve presumptively after as
    many more. Returns what it did, one line each."""
    done = []
    with store.db.tx() as t:
        waiting = [c["case"] for c in t.cases("WHERE state = ?", ("waiting",))]
    for number in waiting:
        with store.db.tx() as t:
            case = t.case(number)
            asking = open_questions(case) if case and case["state"] == "waiting" else []
            if case is None or not asking:
                continue
            asked, first = min(q["at"] for q in asking), asking[0]["id"]
            reminded = next((a["at"] for a in case["articles"] if a.get("reminder_for") == first), None)
            if reminded is None and working_days_between(asked, now) >= store.chase_days:
                _tell(store, t, case, Said("message", REMINDER), None, now)
                case["articles"][-1]["reminder_for"] = first
                t.save(case)
                done.append(f"{number}: reminded")
            elif reminded is not None and working_days_between(reminded, now) >= store.chase_days:
                why = (
                    f"Closed: no answer in {2 * store.chase_days} working days. Answer here or send a report "
                    "naming this case to reopen it."
                )
                _tell(store, t, case, None, why, now)
                done.append(f"{number}: solved presumptively")
            else:
                continue
        store.on_change(case)
    return done


def state_for_box(case: dict, now: float) -> dict:
    """The case as its box sees it: state, priority, support's newest messages, questions and requests."""
    said = [a for a in case["articles"] if a["by"] == "support"][-MESSAGES_TO_BOX:]
    messages = []
    for a in said:
        m = {"id": a["id"], "kind": a["kind"], "text": a["text"], "at": a["at"], "answered": bool(a.get("answered"))}
        if a.get("photo"):
            m["photo"] = a["photo"]
        if a["kind"] == "data":
            m.update(sections=a.get("sections") or [], since=a.get("since"), until=a.get("until"))
        messages.append(m)
    state = {
        "case": case["case"],
        "state": case["state"],
        "priority": case["priority"],
        "subject": case["subject"],
        "version": case["version"],
        "updated": now,
        "reports": [a["report_id"] for a in case["articles"] if a["by"] == "box"][-50:],
        "messages": messages,
    }
    if case.get("feedback"):
        state["feedback"] = case["feedback"]
    return state
