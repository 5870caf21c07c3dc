"""One case per incident: which case a new report about a fault belongs to.

An installer at the box sends a report about the fault they see; a minute later the box's own fault report
would open a second case for the same thing. Instead it goes to the case already open for that fault, or for
the on-site visit under way, as a follow-up; and while the installer's report is still on its way (no case
number yet), the fault report waits for it. A solved case is not reopened by the box's own report: a fault
that comes back after support solved it is a new incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.outbox import Entry
from agent.vocab import CaseState, Reason, ReportState


@dataclass(frozen=True)
class Incident:
    case: str | None  # the open case this report belongs to, if there is one
    waiting_for: str | None  # a report of the same incident still on its way: its case is not known yet


def about(entry: Entry, fault: str, onsite_since: float | None) -> bool:
    """Whether ENTRY (a report) is about FAULT ("code|device"): made while it was active, or during this visit.
    The daily report is nobody's incident, whatever was active as it was made."""
    if entry.extra.get("kind", "report") != "report" or entry.extra.get("reason") == Reason.SCHEDULE:
        return False
    during_visit = onsite_since is not None and entry.on_site and entry.created >= onsite_since
    return fault in entry.extra.get("faults", ()) or during_visit


def incident_of(
    fault: str, entries: Iterable[Entry], case_states: Mapping[str, str | None], onsite_since: float | None
) -> Incident:
    """The incident FAULT belongs to: the newest report about it decides. CASE_STATES: each known case's state."""
    for entry in sorted(entries, key=lambda e: e.created, reverse=True):
        if not about(entry, fault, onsite_since):
            continue
        if entry.state is ReportState.REFUSED:
            continue  # never a case: it does not hold the fault report back
        if not entry.delivered:
            return Incident(None, entry.report_id)
        case = (entry.receipt or {}).get("case")
        if case and case_states.get(case) != CaseState.SOLVED:
            return Incident(case, None)
    return Incident(None, None)


def incident_for(fault: str, outbox, book, onsite) -> Incident:
    """The incident of FAULT on this box: from the OUTBOX's reports, the case BOOK's states, the ONSITE visit."""
    return _incidents([fault], outbox, book, onsite)[fault]


def open_cases(faults: Iterable[Mapping], outbox, book, onsite) -> dict[str, str]:
    """The open case of each active fault's incident ("code|device": case), for the page to offer."""
    keys = [f"{f['code']}|{f['device']}" for f in faults]
    return {key: i.case for key, i in _incidents(keys, outbox, book, onsite).items() if i.case} if keys else {}


def _incidents(faults: list[str], outbox, book, onsite) -> dict[str, Incident]:
    """Each of FAULTS' incident, the outbox and the case book read once for all."""
    visit = onsite.state()
    entries, states = outbox.entries(), {c["case"]: c["state"] for c in book.cases()}
    return {f: incident_of(f, entries, states, visit.since if visit.on else None) for f in faults}
