"""The case conversation on the box: what support says about the box's cases comes in (MQTT at once,
HTTPS now and then), and what the box says back (answers, photos, a fresh report) goes out through the
outbox. The page, the CLI and the status topic read it here."""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.cases import CaseError
from agent.cases.asked import DataRequests
from agent.cases.book import CaseBook
from agent.cases.inbox import CaseInbox
from agent.cases.view import case_view, file_name
from agent.config import AgentConfig
from agent.fields import ANSWER_CHARS
from agent.outbox import Outbox, describe
from agent.redact import Secrets
from agent.request import ReportRequest, RequestError, check_request, fit
from agent.transports.base import DeliveryError
from agent.transports.https import cases_url, client_for, fetch_cases
from agent.vocab import Reason
from agent.worker import Ticker

log = logging.getLogger(__name__)


def fresh_report(case: str, question: object, text: str, on_site: bool) -> ReportRequest:
    """The fresh system report an answer is sent with: a follow-up to its case."""
    fields = {
        "subject": f"Fresh report for {case}",
        "case_ref": case,
        "description": fit(f"Sent with the answer to {question or 'the case'}: {text}", "description"),
        "on_site": on_site,
    }
    try:
        return check_request(fields, Reason.FOLLOW_UP)
    except RequestError as exc:
        raise CaseError("machine", {"detail": str(exc)}) from None


def _asked(case: dict, question: object) -> dict:
    """CASE, when QUESTION is None or one of support's questions in it."""
    asked = {m["id"] for m in case["messages"] if m["kind"] == "question"}
    if question is not None and (not isinstance(question, str) or question not in asked):
        raise CaseError("no_question", {"case": case["case"], "question": str(question)[:40]})
    return case


class Conversation:
    """SUBMIT queues a report (the desk's); ON_SITE says whether an installer is at the box; SENT hears of
    every answer or photo spooled; CHANGED of every case state that changed."""

    def __init__(
        self,
        cfg: AgentConfig,
        outbox: Outbox,
        submit: Callable,
        on_site: Callable[[], bool],
        sent: Callable[[object], None],
        changed: Callable[[], None],
        secrets: Secrets,
    ):
        self.cfg = cfg
        self.outbox = outbox
        self._submit = submit
        self._on_site = on_site
        self.secrets = secrets
        self._sent, self._changed = sent, changed
        self.book = CaseBook(cfg.state_dir, cfg.support.max_cases)
        self.url = cases_url(cfg.backend, cfg.support.cases_url, cfg.device.identity)
        self.http = client_for(cfg.backend)
        self.last_error: str | None = None
        self._requests = DataRequests(self.book, submit, on_site, changed)
        self.inbox = CaseInbox(cfg.support, cfg.device.identity, self.book, self._requests.case_changed)
        self._rounds = Ticker("cases", self._refresh, cfg.support.cases_refresh_s)

    # --- what support says ----------------------------------------------------------------------
    def from_mqtt(self, payload: bytes) -> None:
        self.inbox.from_mqtt(payload)

    def refresh_soon(self) -> None:
        self._rounds.wake()

    def start(self) -> None:
        self._requests.start()
        if self.url:
            self._rounds.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._rounds.stop(timeout)
        self._requests.stop(timeout)

    def _refresh(self) -> None:
        try:
            box, most = self.cfg.device.identity, self.inbox.list_bytes()
            cases = fetch_cases(self.http, self.cfg.backend, self.url, box, most)
            self.inbox.take_list(cases, self.url)
            self.last_error = None
        except DeliveryError as exc:
            if str(exc) != self.last_error:
                log.info("%s", exc)
            self.last_error = str(exc)

    # --- what the page and the CLI show ---------------------------------------------------------
    def file_name(self, report_id: str) -> str:
        return file_name(self.cfg, report_id)

    def view(self) -> dict:
        return self.secrets.strings(case_view(self.cfg, self.outbox, self.book, self.last_error), "cases")

    def counts(self) -> dict:
        """For the status topic."""
        view = self.book.cases()
        return {
            "open_questions": sum(len(c["open_questions"]) for c in view if c["state"] != "solved"),
            "waiting_for_you": sum(c["state"] == "waiting" for c in view),
            "dropped": self.inbox.dropped,  # not signed by support, oversized, of the wrong shape: never shown
        }

    # --- what the box says back -----------------------------------------------------------------
    def _case(self, case: object) -> dict:
        known = self.book.get(case) if isinstance(case, str) else None
        if known is None:
            raise CaseError("no_case", {"case": str(case)[:70]}, 404)
        return known

    def _priority(self, case: dict) -> tuple[str, bool]:
        from agent.request import decide_priority

        on_site = self._on_site()
        return decide_priority(on_site, at_least=case["priority"]), on_site

    def answer(self, case: object, question: object, text: object, with_report: bool = False) -> dict:
        from agent.cases import articles  # answers are rare: their code is loaded when one comes

        known = _asked(self._case(case), question)
        if not isinstance(text, str) or not ANSWER_CHARS[0] <= len(text.strip()) <= ANSWER_CHARS[1]:
            raise CaseError("answer_length", {"most": ANSWER_CHARS[1]})
        priority, on_site = self._priority(known)
        asks = question if isinstance(question, str) else None
        entry = articles.answer(self.cfg, self.outbox, known["case"], asks, text, priority, on_site, self.secrets)
        if isinstance(question, str):  # without a question: a reply to the case (it reopens a solved one)
            self.book.answered(known["case"], question, entry.extra.get("text", ""))
        self._sent(entry)
        out = {"answer": entry.report_id}
        if with_report:
            out["report"] = self._submit(fresh_report(known["case"], question, text, on_site))
        return out

    def add_photo(self, case: object, label: object, data: bytes, question: object = None) -> dict:
        """A photo for CASE; with QUESTION (a photo request of support's), the photo is its answer."""
        from agent.cases import PHOTO_LABELS, articles
        from agent.cases.photos import PhotoError, clean_photo

        known = _asked(self._case(case), question)
        if not isinstance(label, str) or label not in PHOTO_LABELS:
            raise CaseError("photo_label", {"labels": ", ".join(PHOTO_LABELS)})
        try:
            picture = clean_photo(data)
        except PhotoError as exc:
            raise CaseError("photo_refused", {"detail": str(exc)}) from None
        priority, on_site = self._priority(known)
        asks = question if isinstance(question, str) else None
        entry = articles.photo(
            self.cfg, self.outbox, known["case"], label, picture, priority, on_site, self.secrets, asks
        )
        if asks:
            self.book.answered(known["case"], asks)
        self._sent(entry)
        return {
            "photo": entry.report_id,
            "width": picture.width,
            "height": picture.height,
            "bytes": len(picture.data),
            "removed": picture.removed,
        }

    def feedback(self, case: object, easy: object) -> dict:
        from agent.cases import articles  # the satisfaction check of a solved case: was getting help easy?

        known = self._case(case)
        if known["state"] != "solved" or not isinstance(easy, bool):
            raise CaseError("feedback_when", {"case": known["case"]}, 409 if isinstance(easy, bool) else 422)
        priority, on_site = self._priority(known)
        entry = articles.feedback(self.cfg, self.outbox, known["case"], easy, priority, on_site, self.secrets)
        self.book.answered(known["case"], "feedback", "easy" if easy else "not easy")
        self._sent(entry)
        return {"feedback": entry.report_id}

    def retry(self, report_id: object) -> dict:
        entry = self.outbox.load(report_id) if isinstance(report_id, str) and len(report_id) <= 64 else None
        if entry is None:
            raise CaseError("no_report", {"report": str(report_id)[:70]}, 404)
        if entry.state != "refused":
            raise CaseError("not_refused", {"report": entry.report_id, "state": entry.state}, 409)
        self.outbox.retry(entry)
        self._sent(entry)
        return describe(self.outbox.load(entry.report_id) or entry)
