"""Support's requests the box answers by itself, with no person needed: a data request becomes a follow-up
report of its case (only the sections named, only the span of history asked for), made once per request
however often the case state comes again, across restarts (its request id is the request's own)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace

from agent.cases.book import CaseBook
from agent.request import ReportRequest, RequestError, check_request, fit
from agent.vocab import CaseState, Reason
from agent.worker import Ticker

log = logging.getLogger(__name__)


def request_id(case: str, message: str) -> str:
    """The report's request id: the same request of support's is always the same report."""
    return "data-" + hashlib.sha256(f"{case}/{message}".encode()).hexdigest()[:32]


def pending(cases: list[dict]) -> list[tuple[dict, dict]]:
    """The data requests not yet answered, of cases not solved (cases as CaseBook.cases() gives them)."""
    return [
        (c, m)
        for c in cases
        if c["state"] != CaseState.SOLVED
        for m in c["messages"]
        if m["kind"] == "data" and not m["answered"]
    ]


def data_report(case: dict, message: dict, on_site: bool) -> ReportRequest:
    """The follow-up report a data request asks for."""
    from agent.report.sections import SECTION_NAMES

    number = case["case"]
    fields = {
        "subject": fit(f"Data for {number}, as support asked", "subject"),
        "description": fit(f"Support asked for data on {number} ({message['id']}): {message['text']}", "description"),
        "case_ref": number,
        "on_site": on_site,
        "sections": [s for s in message.get("sections", []) if s in SECTION_NAMES],
        "request_id": request_id(number, message["id"]),
    }
    span = (message.get("since"), message.get("until"))
    return replace(check_request(fields, Reason.FOLLOW_UP), window=span if any(span) else None, question=message["id"])


class DataRequests:
    """Answers support's data requests in CaseBook BOOK through SUBMIT (the report desk's), off the thread
    that heard of them (paho's): a report takes time. ON_SITE says whether an installer is at the box;
    CHANGED hears of every changed case after it is looked at for requests."""

    def __init__(
        self,
        book: CaseBook,
        submit: Callable[[ReportRequest], str],
        on_site: Callable[[], bool],
        changed: Callable[[], None] = lambda: None,
    ):
        self.book = book
        self._submit = submit
        self._on_site = on_site
        self._changed = changed
        self._rounds = Ticker("data-requests", self._answer, 600.0)

    def case_changed(self) -> None:
        """A case state changed what the box knows: it may hold a data request."""
        self._rounds.wake()
        self._changed()

    def start(self) -> None:
        self._rounds.start()

    def stop(self, timeout: float) -> None:
        self._rounds.stop(timeout)

    def _answer(self) -> None:
        for case, message in pending(self.book.cases()):
            try:
                report_id = self._submit(data_report(case, message, self._on_site()))
            except (RequestError, ValueError, TimeoutError) as exc:
                log.warning("case %s: support's data request %s not answered: %s", case["case"], message["id"], exc)
                continue
            self.book.answered(case["case"], message["id"], report_id)
            log.info("case %s: support's data request %s answered by report %s", case["case"], message["id"], report_id)
