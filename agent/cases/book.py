"""The box's own record of its cases: the last state support published for each (state, priority,
support's messages and questions), kept on disk and bounded, whatever the backend sends."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from agent.cases import PHOTO_LABELS
from agent.contract import (
    FEEDBACK,
    MAX_MESSAGES,
    MAX_REPORTS,
    MAX_SECTIONS,
    MAX_SUBJECT,
    MAX_TEXT,
    MESSAGE_KINDS,
    SECTION,
)
from agent.paths import state_path
from agent.request import CASE_REF
from agent.storage import StateFile
from agent.vocab import CASE_STATES_SENT, CaseState, Priority

log = logging.getLogger(__name__)


def _notes() -> dict[str, str]:
    from agent.lang import load

    words = load("en")["page"]["case_notes"]
    return {state: words[state] for state in CaseState}


# What a case's state (agent/vocab.py) means to the person at the box, in the log's language (agent/lang/).
NOTES = _notes()
MAX_SAID = 100
MESSAGE_ID = CASE_REF  # the same shape: letters, digits, '-', '_', '.'


class CaseStateError(ValueError):
    """A case state the backend sent that the box cannot use; the message says what is wrong."""


def check_state(data: object) -> dict:
    """A case state from the backend, checked and cut to the box's bounds (it is shown on a page)."""
    if not isinstance(data, dict):
        raise CaseStateError("not a JSON object")
    case = data.get("case")
    state = data.get("state")
    priority = data.get("priority")
    if not isinstance(case, str) or not CASE_REF.match(case):
        raise CaseStateError(f"case: not a case number: {str(case)[:70]!r}")
    if state not in CASE_STATES_SENT:
        raise CaseStateError(f"state: expected one of {', '.join(CASE_STATES_SENT)}")
    if priority not in tuple(Priority):
        raise CaseStateError(f"priority: expected one of {', '.join(Priority)}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**53:
        raise CaseStateError("version: expected a whole number")
    messages = data.get("messages", [])
    if not isinstance(messages, list):
        raise CaseStateError("messages: expected a list")
    out = []
    for m in messages[-MAX_MESSAGES:]:
        if not (
            isinstance(m, dict)
            and isinstance(m.get("id"), str)
            and MESSAGE_ID.match(m["id"])
            and isinstance(m.get("text"), str)
            and m.get("kind") in MESSAGE_KINDS
        ):
            raise CaseStateError("messages: each needs an id, a kind (question, message or data) and a text")
        message = {
            "id": m["id"],
            "kind": m["kind"],
            "text": m["text"][:MAX_TEXT],
            "at": _stamp(m.get("at")),
            "answered": m.get("answered") is True,
            "photo": m["photo"] if m.get("photo") in PHOTO_LABELS else None,  # a view support asks to see
        }
        if m["kind"] == "data":  # support asks for a fresh report: which sections, which span of history
            sections = m["sections"] if isinstance(m.get("sections"), list) else []
            message.update(
                sections=[s for s in sections if isinstance(s, str) and SECTION.match(s)][:MAX_SECTIONS],
                since=_stamp(m.get("since")),
                until=_stamp(m.get("until")),
            )
        out.append(message)
    reports = (
        [r for r in data.get("reports", []) if isinstance(r, str) and len(r) <= 64][-MAX_REPORTS:]
        if isinstance(data.get("reports"), list)
        else []
    )
    return {
        "case": case,
        "state": state,
        "priority": priority,
        "version": version,
        "messages": out,
        "subject": str(data.get("subject", ""))[:MAX_SUBJECT],
        "reports": reports,
        "feedback": data["feedback"] if data.get("feedback") in FEEDBACK else None,
    }


def _stamp(at: object) -> float | None:
    return at if isinstance(at, (int, float)) and not isinstance(at, bool) and 0 <= at < 1e11 else None


VERSIONS_KEPT = 20  # of each case let go, its version is remembered for this many times max_cases


def _valid(saved: dict) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in saved["versions"].values()) and all(
        isinstance(c, dict) for c in saved["cases"]
    )


class CaseBook:
    """STATE/cases.json: the newest state of each case (by the backend's version number), at most MAX_CASES,
    and the questions the box has answered that the backend has not yet counted."""

    def __init__(self, state_dir: str | Path, max_cases: int):
        self._file = StateFile(
            state_path(state_dir, "cases"), {"cases": [], "answered": [], "said": {}, "versions": {}}, valid=_valid
        )
        self.max_cases = max_cases
        self._lock = threading.Lock()
        saved = self._file.load()
        self._cases: dict[str, dict] = {}
        for raw in saved["cases"]:
            try:
                state = check_state(raw)
                seen = raw.get("seen")
                self._cases[state["case"]] = dict(state, seen=seen if isinstance(seen, (int, float)) else 0)
            except CaseStateError as exc:
                log.warning("a saved case state is unreadable (%s); it is read again from the backend", exc)
        # The newest version the box has taken of each case, kept after the case itself is let go: an older
        # state (a stale list, a retained message) never takes its place again.
        self._versions: dict[str, int] = dict(saved["versions"])
        for c in self._cases.values():
            self._versions[c["case"]] = max(c["version"], self._versions.get(c["case"], -1))
        self._answered: set[str] = {a for a in saved["answered"] if isinstance(a, str)}
        # What the box answered, by "case/question", shown back under the question (the newest MAX_SAID).
        self._said: dict[str, str] = {k: v for k, v in saved.get("said", {}).items() if isinstance(v, str)}

    def apply(self, data: object, seen: float) -> bool:
        """Take a case state from the backend; True when it changed what the box knows."""
        state = check_state(data)
        with self._lock:
            if state["version"] <= self._versions.get(state["case"], -1):
                return False  # what the box holds, or older: versions only move forward
            self._cases[state["case"]] = dict(state, seen=seen)
            self._versions.pop(state["case"], None)  # re-inserted: the newest last, the oldest let go first
            self._versions[state["case"]] = state["version"]
            for old in list(self._versions)[: -VERSIONS_KEPT * self.max_cases]:
                del self._versions[old]
            # The backend has counted an answer once it says so: the box need not remember it any longer.
            self._answered -= {f"{state['case']}/{m['id']}" for m in state["messages"] if m["answered"]}
            # Over the bound, solved cases go first, then the longest unchanged: an open question stays.
            by_need = sorted(self._cases.values(), key=lambda c: (c["state"] != CaseState.SOLVED, c["seen"]))
            for gone in by_need[: -self.max_cases]:
                del self._cases[gone["case"]]
            self._save()
        return True

    def answered(self, case: str, question: str, said: str = "") -> None:
        """The box sent an answer (SAID: its words, or what the photo shows): the question is not shown as open
        while the answer travels, and the person sees what they answered."""
        with self._lock:
            self._answered.add(f"{case}/{question}")
            if said:
                self._said[f"{case}/{question}"] = said[:MAX_TEXT]
                for old in list(self._said)[:-MAX_SAID]:
                    del self._said[old]
            self._save()

    def _save(self) -> None:
        self._file.save(
            {
                "cases": list(self._cases.values()),
                "answered": sorted(self._answered),
                "said": self._said,
                "versions": self._versions,
            }
        )

    def get(self, case: str) -> dict | None:
        with self._lock:
            return self._cases.get(case)

    def cases(self) -> list[dict]:
        """Every known case, newest first, its open questions marked (answered here counts as answered)."""
        with self._lock:
            out = []
            for c in sorted(self._cases.values(), key=lambda c: -c["seen"]):
                messages = [
                    dict(
                        m,
                        answered=m["answered"] or f"{c['case']}/{m['id']}" in self._answered,
                        said=self._said.get(f"{c['case']}/{m['id']}"),
                    )
                    for m in c["messages"]
                ]
                out.append(
                    dict(
                        c,
                        messages=messages,
                        note=NOTES[c["state"]],
                        # the satisfaction check: the backend's record of it, or what the box sent
                        feedback=c.get("feedback") or self._said.get(f"{c['case']}/feedback"),
                        open_questions=[m for m in messages if m["kind"] == "question" and not m["answered"]],
                    )
                )
            return out
