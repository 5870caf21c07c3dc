"""The support side's parts on their own: the grammar of a staff follow-up for the box, the service times
behind a ticket's due date, support's command line on a store without a helpdesk, and the box's side of a
data request and a satisfaction check."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.cases.asked import data_report, pending, request_id
from agent.cases.book import CaseBook
from backend.helpdesk.desk import Said, due, read_note, write_note
from backend.rules.cases import CaseStore
from tests.unit.test_cases import bundle

SECTIONS = ("logs", "history", "system", "modbus")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    "note, kind, view, sections, last_s, text",
    [
        ("Question: Is the RCD on?", "question", None, [], None, "Is the RCD on?"),
        ("question:Which cable?", "question", None, [], None, "Which cable?"),
        ("Photo of type plate: Please photograph it.", "photo", "type_plate", [], None, "Please photograph it."),
        ("Photo housing: the inside", "photo", "housing", [], None, "the inside"),
        ("Photo of the garage: please", "photo", "other", [], None, "please"),  # a view the box has not
        ("Data logs, history last 2h: the readings", "data", None, ["logs", "history"], 7200, "the readings"),
        ("Data: a fresh report, please", "data", None, [], None, "a fresh report, please"),
        ("Data wiring last 30m: x", "data", None, [], 1800, "x"),  # no such section: left out
        ("The firmware 2.4.2 fixes it: please update.", "message", None, [], None, None),
    ],
)
def test_a_staff_follow_up_says_what_support_wants_of_the_box(note, kind, view, sections, last_s, text):
    said = read_note(note, SECTIONS)
    assert (said.kind, said.view, said.sections, said.last_s) == (kind, view, sections, last_s)
    assert said.text == (text if text is not None else note)
    assert read_note(write_note(said), SECTIONS) == said  # what the command line writes reads back the same


def test_service_times_count_working_hours_in_supports_zone():
    friday_3pm = datetime(2026, 11, 27, 15, 0, tzinfo=BERLIN).timestamp()
    at = lambda t: datetime.fromtimestamp(t, BERLIN).strftime("%a %H:%M")  # noqa: E731
    assert at(due(friday_3pm, "high")) == "Mon 09:00"  # 1 h on Friday, 1 h on Monday morning
    assert at(due(friday_3pm, "medium")) == "Mon 15:00"  # one working day
    assert at(due(friday_3pm, "low")) == "Fri 15:00"  # five working days
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=BERLIN).timestamp()
    assert at(due(saturday, "high")) == "Mon 10:00"  # nobody works at the weekend


@pytest.fixture
def store(tmp_path):
    folder = tmp_path / "intake"
    folder.mkdir()
    (folder / "intake.json").write_text(json.dumps({"db": f"sqlite:{folder / 'cases.db'}", "helpdesk": None}))
    s = CaseStore(folder, sections=SECTIONS)
    s.accept(bundle("r1", extra={"summary": {}}), "r1", "https")
    return s


def test_a_data_request_is_answered_by_the_report_naming_it_and_feedback_never_reopens(store):
    store.support("CASE-000001", Said("data", "fresh, please", sections=["logs"], last_s=3600))
    assert store.get("CASE-000001")["state"] == "waiting"
    qid = store.state_for_box(store.get("CASE-000001"))["messages"][-1]["id"]
    store.accept(bundle("r2", case_ref="CASE-000001", trigger="follow-up", extra={"question": qid}), "r2", "https")
    case = store.get("CASE-000001")
    assert case["state"] == "open" and case["articles"][-2]["answered"] == "r2"
    store.solve("CASE-000001")
    store.accept(bundle("f1", case_ref="CASE-000001", kind="feedback", extra={"easy": True}), "f1", "https")
    case = store.get("CASE-000001")
    assert case["state"] == "solved" and case["feedback"] == "easy"
    assert store.state_for_box(case)["feedback"] == "easy"


def test_one_report_id_racing_on_one_store_is_one_case(store):
    body = bundle("r9")
    receipts: list = []
    threads = [threading.Thread(target=lambda: receipts.append(store.accept(body, "r9", "https"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(receipts) == 8  # every one answered
    assert len({r["case"] for r, _ in receipts}) == 1 and sum(new for _, new in receipts) == 1
    assert len(store.cases) == 2


def test_the_box_answers_a_data_request_once_with_the_sections_and_span_asked(tmp_path):
    book = CaseBook(tmp_path, max_cases=5)
    data = {"id": "Q3", "kind": "data", "text": "logs please", "sections": ["logs", "nope", "../x"], "since": 100.0}
    book.apply({"case": "wallbox-7", "state": "waiting", "priority": "low", "version": 1, "messages": [data]}, 1)
    ((case, message),) = pending(book.cases())
    request = data_report(case, message, on_site=False)
    assert request.case_ref == "wallbox-7" and request.sections == ["logs"] and request.question == "Q3"
    assert request.window == (100.0, None) and request.request_id == request_id("wallbox-7", "Q3")
    assert request.reason == "follow-up"
    book.answered("wallbox-7", "Q3", "20261203T100000Z-abcdef12")
    assert pending(book.cases()) == [] and pending(CaseBook(tmp_path, max_cases=5).cases()) == []
