"""A report in the outbox: its delivery state (Entry), checked when read back (the folder is input), its place in
the one order of sending and holding (urgency), and its state in the one vocabulary people read:
accepted (on the box, not tried yet) -> sending (tried, tried again by itself) -> delivered (a case), or refused
(the backend said no for good: change the settings and retry, or download it)."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from agent.vocab import Priority, ReportState

log = logging.getLogger(__name__)


def _notes() -> dict[str, str]:
    from agent.lang import load

    words = load("en")["page"]["state_notes"]
    return {state: words[state] for state in ReportState}


# What each state means to the person looking at it, and what they can do: written once, in agent/lang/
# (the page shows the same words in the browser's language).
NOTES: dict[str, str] = _notes()


def _rank(priority: str) -> int:
    """PRIORITY's urgency; a word the box does not know (an old state file) goes last."""
    return Priority(priority).rank if priority in tuple(Priority) else -1


def urgency(entry: Entry) -> tuple[bool, int]:
    """How urgent ENTRY is, the one order of sending and holding: on-site or high priority first (urgent), then
    by priority."""
    return (entry.on_site or entry.priority == Priority.HIGH, _rank(entry.priority))


@dataclass
class Entry:
    report_id: str
    priority: str
    on_site: bool
    created: float
    size: int = 0
    attempts: int = 0
    last_error: str | None = None
    next_attempt: float = 0.0  # wall time
    scheduled: float = 0.0  # the wall time next_attempt was set at: a clock now before it went back
    parked: bool = False  # refused for good by the backend; retried after a config change
    parked_config: str | None = None  # the delivery settings it was refused under
    receipt: dict | None = None
    via: str | None = None  # the transport that delivered it
    extra: dict = field(default_factory=dict)
    # The order reports were accepted in: the wall clock may step back between two reports, this never does.
    seq: int = 0
    damaged: bool = False  # its bundle is missing or not what was spooled: kept for a person, never sent

    @property
    def delivered(self) -> bool:
        return self.receipt is not None

    @property
    def state(self) -> ReportState:
        if self.delivered:
            return ReportState.DELIVERED
        if self.parked or self.damaged:
            return ReportState.REFUSED
        return ReportState.SENDING if self.attempts else ReportState.ACCEPTED


# What each field of a state file must be: the outbox folder is input (a planted or damaged file is set aside).
KINDS = {
    "report_id": str,
    "priority": str,
    "on_site": bool,
    "created": (int, float),
    "size": int,
    "attempts": int,
    "last_error": (str, type(None)),
    "next_attempt": (int, float),
    "scheduled": (int, float),
    "parked": bool,
    "parked_config": (str, type(None)),
    "receipt": (dict, type(None)),
    "via": (str, type(None)),
    "extra": dict,
    "seq": int,
    "damaged": bool,
}


def entry_of(report_id: str, data: object) -> Entry:
    """The Entry in a state file named REPORT_ID; ValueError when it is not one of ours."""
    if not isinstance(data, dict) or data.get("report_id") != report_id:
        raise ValueError("it does not name its own report")
    wrong = [k for k, v in data.items() if k not in KINDS or not _is(v, KINDS[k])]
    if wrong:
        raise ValueError(f"{', '.join(sorted(wrong))} not what a state holds")
    return Entry(**data)


def _is(value: object, kinds) -> bool:
    if isinstance(value, bool):
        return kinds is bool or (isinstance(kinds, tuple) and bool in kinds)
    return isinstance(value, kinds)


def damage(bundle: Path, size: int) -> str | None:
    """What is wrong with a report's BUNDLE (missing, a symlink, not the SIZE spooled), or None. A damaged
    report is set aside as refused and never blocks the reports behind it."""
    try:
        st = os.lstat(bundle)
    except FileNotFoundError:
        return "its bundle is missing from the outbox"
    if not stat.S_ISREG(st.st_mode):
        return "its bundle is not a plain file"
    if size and st.st_size != size:
        return f"its bundle is {st.st_size} bytes, not the {size} spooled"
    return None


def describe(entry: Entry) -> dict:
    """A report as people see it (page, CLI, status): its state in the one vocabulary, and what it means."""
    receipt = entry.receipt or {}
    case, attached = receipt.get("case"), receipt.get("attached") is True
    note = NOTES[entry.state].format(error=entry.last_error or "no answer yet", case=case)
    return {
        "report_id": entry.report_id,
        "created": entry.created,
        "subject": entry.extra.get("subject", ""),
        "kind": entry.extra.get("kind", "report"),
        "reason": entry.extra.get("reason"),
        "priority": entry.priority,
        "on_site": entry.on_site,
        "state": entry.state,
        "case": case,
        "attached": attached,
        "error": None if entry.delivered else entry.last_error,
        "attempts": entry.attempts,
        "via": entry.via,
        "note": note + (" (added to the case it named)" if attached else ""),
        "deferred": None if entry.delivered else entry.extra.get("deferred"),  # waits for the data budget
        # What an answer or a photo is about, for its subject in the reader's language (the page's words).
        "about": {k: entry.extra[k] for k in ("case_ref", "question", "label") if entry.extra.get(k)},
    }
