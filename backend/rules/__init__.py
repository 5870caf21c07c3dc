"""The case rules (the hexagon's core): how a report becomes a case (cases.py) and how the case talks with the
helpdesk and the box afterwards (talk.py). No input, store or helpdesk detail is decided here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.contract import ASKING


def working_days_between(start: float, end: float) -> int:
    """Whole working days (Mon-Fri) from START to END: Friday 15:00 -> Monday 15:00 is one."""
    a, b = (datetime.fromtimestamp(t, UTC) for t in (start, end))
    days, day = 0, a
    while day + timedelta(days=1) <= b:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days += 1
    return days


class Rejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def open_questions(case: dict) -> list[dict]:
    return [a for a in case["articles"] if a["kind"] in ASKING and not a.get("answered")]
