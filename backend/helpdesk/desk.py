"""The seam between the intake and the helpdesk support works in: what the intake needs of a ticket system
(open a ticket, add a follow-up with attachments, read what staff wrote), the grammar of a staff follow-up
meant for the box, and the service times that give a case its due date.

A connector is one module with a `Desk` (connector.py for django-helpdesk; Zammad, Freshdesk and
Zendesk have the same ticket + articles shape). `NoDesk` is the intake on its own: case numbers from its
database, support's actions from the command line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from agent.contract import PHOTO_VIEWS


class DeskError(Exception):
    """The helpdesk did not take what the intake sent (down, refused): the message says which and why."""


@dataclass
class Attachment:
    name: str
    data: bytes
    mime: str = "application/octet-stream"


@dataclass
class Note:
    """A follow-up staff wrote on a ticket. STATE: the case state it set (a status change), else None."""

    desk_id: str
    at: float
    text: str
    public: bool
    state: str | None = None
    desk_status: object = None  # the helpdesk's own status it set, remembered on the case as "desk_status"


@dataclass
class Said:
    """What a note says to the box: kind question, message, photo or data, its words, and a photo request's
    view or a data request's sections and span of history (seconds back from now)."""

    kind: str
    text: str
    view: str | None = None
    sections: list[str] = field(default_factory=list)
    last_s: float | None = None


class Desk(Protocol):
    name: str

    def open(self, case: dict, files: list[Attachment]) -> tuple[str, list[str]]:
        """A ticket for a new CASE; returns the case number the box shows (the ticket's) and the ids of the
        follow-ups the helpdesk wrote itself on opening it. The first report is post()ed after."""
        ...

    def post(self, case: dict, text: str, files: list[Attachment]) -> str:
        """A follow-up on the case's ticket by the intake (the box's article, a reminder), setting the
        ticket's status and priority to the case's; returns its id in the desk."""
        ...

    def notes(self, case: dict) -> list[Note]:
        """Every follow-up on the case's ticket, the intake's own included (it knows their ids)."""
        ...

    def update(self, case: dict) -> None:
        """The ticket's status and priority set to the case's (a question made it wait for the box)."""
        ...

    def say(self, case: dict, text: str, solved: bool = False) -> str:
        """Support's words on the ticket as staff write them, SOLVED resolving it (the support command
        line's way in: what it says reaches the box the way a person's follow-up does)."""
        ...

    def number(self, ticket: int) -> str | None:
        """The case number of a ticket a webhook names (None: this desk sends no webhooks)."""
        ...


class NoDesk:
    """No helpdesk: the intake's database is the whole record, and support acts through the command line."""

    name = "none"

    def open(self, case: dict, files: list[Attachment]) -> tuple[str, list[str]]:
        return f"CASE-{case['seq']:06d}", []

    def post(self, case: dict, text: str, files: list[Attachment]) -> str:
        return ""

    def notes(self, case: dict) -> list[Note]:
        return []

    def update(self, case: dict) -> None:
        pass

    def say(self, case: dict, text: str, solved: bool = False) -> str:
        raise NotImplementedError  # without a helpdesk the store writes support's words itself

    def number(self, ticket: int) -> str | None:
        return None


# --- a staff follow-up for the box ----------------------------------------------------------------
# Public follow-ups go to the box (the box is the ticket's submitter); internal notes never do. Its first
# line may start with a keyword; without one the follow-up is a message:
#   Question: Is the RCD in the distribution board switched on?
#   Photo of type plate: Please photograph the type plate.
#   Data modbus, network last 2h: The meter readings of the last two hours, please.
KEYWORD = re.compile(
    r"^\s*(?:(?P<q>question)|photo(?: of)? (?P<view>[a-z_ ]+?)|data(?P<spec>[^:\n]*))\s*:\s*", re.IGNORECASE
)
SPAN = re.compile(r"\blast (\d{1,4}) ?(m|min|h|d)\b", re.IGNORECASE)
SPAN_S = {"m": 60, "min": 60, "h": 3600, "d": 86400}


def read_note(text: str, sections: tuple[str, ...]) -> Said:
    """What a public staff follow-up says to the box (the grammar above). A photo of a view the box does not
    know is a photo of "other"; a section the box does not have is left out."""
    m = KEYWORD.match(text)
    if not m:
        return Said("message", text.strip())
    words = text[m.end() :].strip()
    if m["q"]:
        return Said("question", words)
    if m["view"] is not None:
        view = m["view"].strip().lower().replace(" ", "_")
        return Said("photo", words, view=view if view in PHOTO_VIEWS else "other")
    spec = m["spec"] or ""
    span = SPAN.search(spec)
    named = re.findall(r"[a-z_]+", SPAN.sub(" ", spec).lower())
    return Said(
        "data",
        words,
        sections=[s for s in named if s in sections],
        last_s=int(span[1]) * SPAN_S[span[2].lower()] if span else None,
    )


def write_note(said: Said) -> str:
    """A staff follow-up in the grammar above (what the support command line posts for a person)."""
    if said.kind == "question":
        return f"Question: {said.text}"
    if said.kind == "photo":
        return f"Photo of {(said.view or 'other').replace('_', ' ')}: {said.text}"
    if said.kind == "data":
        span = f" last {int(said.last_s // 60)}m" if said.last_s else ""
        return f"Data {', '.join(said.sections)}{span}: {said.text}".replace("Data :", "Data:")
    return said.text


# --- service times ------------------------------------------------------------------------------------
# The manufacturer's support process: on-site help first, within working hours (Mon-Fri 08:00-16:00);
# a box that cannot charge or a hardware defect within one working day; general questions in 2-5 working
# days (the due date is the latest). Counted in working hours of support's zone.
OPEN_HOUR, CLOSE_HOUR = 8, 16
WORKING_HOURS_DUE = {"high": 2, "medium": 8, "low": 5 * 8}
SERVICE_TARGET = {
    "high": "first, Mon-Fri 08:00-16:00 (on-site help)",
    "medium": "within 1 working day",
    "low": "2-5 working days",
}


def due(received: float, priority: str, zone: str = "Europe/Berlin") -> float:
    """When a case of PRIORITY received at RECEIVED is due: its working hours counted from then."""
    tz = ZoneInfo(zone)
    at = datetime.fromtimestamp(received, tz)
    left = timedelta(hours=WORKING_HOURS_DUE.get(priority, WORKING_HOURS_DUE["low"]))
    while left > timedelta(0):
        opens = at.replace(hour=OPEN_HOUR, minute=0, second=0, microsecond=0)
        closes = at.replace(hour=CLOSE_HOUR, minute=0, second=0, microsecond=0)
        if at.weekday() >= 5 or at >= closes:
            at = opens + timedelta(days=1)  # aware arithmetic keeps the wall time: 08:00 the next day
            continue
        at = max(at, opens)
        step = min(left, closes - at)
        at, left = at + step, left - step
    return at.timestamp()
