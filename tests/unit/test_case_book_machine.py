"""A stateful property test of the box's case book: case states from the backend in any order (stale, repeated,
newer), the box's own answers, restarts. Versions only move forward, a case let go never comes back older, the
book stays within its bound, a restart changes nothing, and a question the box answered is not shown open until the
backend has counted the answer."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from agent.cases.book import CaseBook

CASES = ("CASE-000001", "CASE-000002", "CASE-000003", "CASE-000004")
MAX_CASES = 3


def state(case: str, version: int, kind: str, questions: int, answered: bool) -> dict:
    messages = [
        {"id": f"Q{i}", "kind": "question", "text": f"question {i}", "at": 1.0 + i, "answered": answered}
        for i in range(questions)
    ]
    return {"case": case, "state": kind, "priority": "low", "version": version, "messages": messages}


class CaseBookMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        import tempfile

        self.folder = tempfile.mkdtemp(prefix="case-book-")
        self.book = CaseBook(self.folder, MAX_CASES)
        self.newest: dict[str, int] = {}  # the newest version the backend sent of each case
        self.answered: set[tuple[str, str]] = set()
        self.seen = 0.0

    @rule(
        case=st.sampled_from(CASES),
        version=st.integers(0, 6),
        kind=st.sampled_from(("open", "waiting", "solved", "reopened")),
        questions=st.integers(0, 2),
        answered=st.booleans(),
    )
    def backend_says(self, case, version, kind, questions, answered):
        self.seen += 1
        before = self.book.get(case)
        changed = self.book.apply(state(case, version, kind, questions, answered), self.seen)
        if version <= self.newest.get(case, -1):
            assert not changed and self.book.get(case) == before, "an older or the same state replaced a newer"
        else:
            assert changed
            if answered:  # the backend has counted the box's answers: from now on its word rules
                self.answered -= {(case, f"Q{i}") for i in range(questions)}
        self.newest[case] = max(version, self.newest.get(case, -1))

    @rule(case=st.sampled_from(CASES), question=st.sampled_from(("Q0", "Q1")))
    def box_answers(self, case, question):
        self.book.answered(case, question, "yes")
        self.answered.add((case, question))

    @rule()
    def restart(self):
        before = self.book.cases()
        self.book = CaseBook(self.folder, MAX_CASES)
        assert self.book.cases() == before

    @invariant()
    def within_bounds_and_forward_only(self):
        if not hasattr(self, "book"):
            return
        cases = self.book.cases()
        assert len(cases) <= MAX_CASES
        for c in cases:
            assert c["version"] == self.newest[c["case"]], c

    @invariant()
    def an_answered_question_is_not_shown_open(self):
        if not hasattr(self, "book"):
            return
        for c in self.book.cases():
            for m in c["messages"]:
                if (c["case"], m["id"]) in self.answered:
                    assert m["answered"], (c["case"], m)

    def teardown(self):
        import shutil

        if hasattr(self, "folder"):
            shutil.rmtree(self.folder, ignore_errors=True)


CaseBookMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestCaseBook = CaseBookMachine.TestCase
