"""The reference intake's cases: a case is a conversation of articles (reports, follow-ups, answers,
photos from the box; questions and messages from support), with a state and a priority.

Rules (README, "The backend contract"):
- the same report id is always the same article (a retry, or the same bundle mailed and uploaded);
- a report naming a case of the same box attaches to it, and so does a follow-up, an answer, a photo;
- attaching to a solved case reopens it; an on-site article raises the case to high priority;
- support asks a question: the case waits for the box; an answer to every open question opens it again;
- the case chase: a question unanswered for CHASE_DAYS working days reminds once, and after as many
  working days more the case is solved presumptively (an answer later reopens it).
The clock is handed in (NOW), so the chase is tested on any day of the week.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

PRIORITIES = ("high", "medium", "low")
STATES = ("open", "waiting", "solved", "reopened")  # "waiting": for the box (the page says "waiting for you")
KINDS = ("report", "follow_up", "answer", "photo")  # what a box sends
MESSAGES_TO_BOX = 20  # the newest support messages a case state carries
PHOTO_TYPES = {"photo.jpg": "jpg", "photo.png": "png"}


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


class CaseStore:
    """Cases on disk: cases.json (rewritten atomically), one stored bundle per article from a box, and the
    photos taken out of their bundles. ON_CHANGE(case) hears of every change a box must learn about."""

    def __init__(
        self,
        folder: Path,
        on_change: Callable[[dict], None] = lambda case: None,
        clock: Callable[[], float] = time.time,
        chase_days: int = 3,
    ):
        self.folder = folder
        for sub in ("bundles", "photos"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.on_change, self.clock, self.chase_days = on_change, clock, chase_days
        self.rejected = 0  # uploads refused as damaged or not matching: a sender bug or a broken transfer
        self.index = folder / "cases.json"
        self.cases: list[dict] = json.loads(self.index.read_text()) if self.index.exists() else []

    def _save(self) -> None:
        tmp = self.index.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.cases, indent=1))
        os.replace(tmp, self.index)

    def get(self, number: str) -> dict:
        case = next((c for c in self.cases if c["case"] == number), None)
        if case is None:
            raise Rejected(404, f"no case {number}")
        return case

    def of_box(self, box: str) -> list[dict]:
        return [c for c in self.cases if c["box"] == box]

    def _by_report(self, report_id: str) -> tuple[dict, dict] | None:
        for case in self.cases:
            for article in case["articles"]:
                if article.get("report_id") == report_id:
                    return case, article
        return None

    # --- what boxes send ------------------------------------------------------------------------
    def accept(self, body: bytes, report_id: str, transport: str) -> tuple[dict, bool]:
        """Verify a bundle and file it; returns its receipt and whether it is new. The same report id
        always gets the same answer, whichever way it came."""
        from agent.report.bundle import BundleError, read_bundle

        try:
            manifest, members = read_bundle(body)
        except BundleError as exc:
            self.rejected += 1
            raise Rejected(422, f"damaged bundle: {exc}") from None
        if manifest.get("report_id") != report_id:
            self.rejected += 1
            raise Rejected(422, "the bundle's report id does not match the Idempotency-Key")
        with self._lock:
            known = self._by_report(report_id)
            if known:
                case, article = known
                article["deliveries"] += 1
                case["deliveries"] += 1
                self._save()
                return self.receipt(case, article), False
            case, article = self._file(manifest, members, body, report_id, transport)
            self._save()
        self.on_change(case)
        return self.receipt(case, article), True

    @staticmethod
    def receipt(case: dict, article: dict) -> dict:
        return {
            "case": case["case"],
            "priority": case["priority"],
            "report_id": article["report_id"],
            "attached": article["attached"],
        }

    def _file(self, manifest: dict, members: dict, body: bytes, report_id: str, transport: str):
        device = manifest.get("device") or {}
        box = str(device.get("serial") or device.get("order_number") or "")
        kind = manifest.get("kind") if manifest.get("kind") in KINDS else "report"
        if kind == "report" and manifest.get("trigger") in ("cloud-follow-up", "follow-up"):
            kind = "follow_up"
        priority = manifest.get("priority") if manifest.get("priority") in PRIORITIES else "low"
        on_site = bool(manifest.get("on_site"))
        ref = manifest.get("case_ref")
        # A case of this very box: a box cannot file into another's conversation by naming its number.
        case = next((c for c in self.cases if c["case"] == ref and c["box"] == box), None)
        now = self.clock()
        (self.folder / "bundles" / f"{report_id}.tar.gz").write_bytes(body)
        article = {
            "kind": kind,
            "by": "box",
            "report_id": report_id,
            "at": now,
            "transport": transport,
            "deliveries": 1,
            "attached": case is not None,
            "on_site": on_site,
            "subject": str(manifest.get("subject", ""))[:120],
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        if kind == "answer":
            article.update(question=manifest.get("question"), text=str(manifest.get("text", ""))[:4000])
        if kind == "photo":
            article["question"] = manifest.get("question")
            name = next((n for n in members if n in PHOTO_TYPES), None)
            if name:
                path = self.folder / "photos" / f"{report_id}.{PHOTO_TYPES[name]}"
                path.write_bytes(members[name])
                article.update(file=str(path), label=str(manifest.get("label", ""))[:80], bytes=len(members[name]))
        if case is None:
            case = {
                "case": f"CASE-{len(self.cases) + 1:06d}",
                "box": box,
                "serial": str(device.get("serial", "")),
                "state": "open",
                "priority": priority,
                "on_site": on_site,
                "subject": article["subject"],
                "case_ref": ref,
                "report_id": report_id,
                "received": now,
                "transport": transport,
                "deliveries": 0,
                "sha256": article["sha256"],
                "articles": [],
                "questions": 0,
                "version": 0,
            }
            self.cases.append(case)
        else:
            self._attach(case, article, priority, on_site)
        case["deliveries"] += 1
        case["articles"].append(article)
        case["version"] += 1
        return case, article

    def _attach(self, case: dict, article: dict, priority: str, on_site: bool) -> None:
        if on_site:  # an installer is at the box now: the case is handled first
            case["priority"], case["on_site"] = "high", True
        elif PRIORITIES.index(priority) < PRIORITIES.index(case["priority"]):
            case["priority"] = priority
        if article["kind"] in ("answer", "photo"):  # a photo answers the question that asked for it
            for q in case["articles"]:
                if q["kind"] == "question" and q["id"] == article.get("question"):
                    q["answered"] = article["report_id"]
        if case["state"] == "solved":
            case["state"] = "reopened"
        elif case["state"] == "waiting" and not self.open_questions(case):
            case["state"] = "open"

    # --- what support does ----------------------------------------------------------------------
    @staticmethod
    def open_questions(case: dict) -> list[dict]:
        return [a for a in case["articles"] if a["kind"] == "question" and not a.get("answered")]

    def _support(self, number: str, change: Callable[[dict], None]) -> dict:
        with self._lock:
            case = self.get(number)
            change(case)
            case["version"] += 1
            self._save()
        self.on_change(case)
        return case

    def _say(self, case: dict, kind: str, text: str, at: float | None = None) -> dict:
        case["questions"] += kind == "question"
        article = {
            "kind": kind,
            "by": "support",
            "id": f"{'Q' if kind == 'question' else 'M'}{len(case['articles']) + 1}",
            "text": text[:2000],
            "at": self.clock() if at is None else at,
        }
        case["articles"].append(article)
        return article

    def ask(self, number: str, text: str, photo: str | None = None) -> dict:
        """Support asks the box a question, or for a PHOTO of one view: the case waits for the box."""

        def change(case):
            article = self._say(case, "question", text)
            if photo:
                article["photo"] = str(photo)[:40]
            case["state"] = "waiting"

        return self._support(number, change)

    def tell(self, number: str, text: str) -> dict:
        return self._support(number, lambda case: self._say(case, "message", text))

    def solve(self, number: str, why: str = "Solved by support.", at: float | None = None) -> dict:
        def change(case):
            self._say(case, "message", why, at)
            case["state"] = "solved"

        return self._support(number, change)

    def chase(self, now: float | None = None) -> list[str]:
        """Remind once about a question unanswered for chase_days working days; solve presumptively after
        as many more. Returns what it did, one line each."""
        now = self.clock() if now is None else now
        done = []
        for case in [c for c in self.cases if c["state"] == "waiting"]:
            waiting = self.open_questions(case)
            if not waiting:
                continue
            asked = min(q["at"] for q in waiting)
            reminded = next((a["at"] for a in case["articles"] if a.get("reminder_for") == waiting[0]["id"]), None)
            if reminded is None and working_days_between(asked, now) >= self.chase_days:

                def remind(c, qid=waiting[0]["id"]):
                    self._say(
                        c,
                        "message",
                        "Reminder: support is still waiting for your answer to the question "
                        "above. Without an answer the case will be closed.",
                        now,
                    )["reminder_for"] = qid

                self._support(case["case"], remind)
                done.append(f"{case['case']}: reminded")
            elif reminded is not None and working_days_between(reminded, now) >= self.chase_days:
                self.solve(
                    case["case"],
                    f"Closed: no answer in {2 * self.chase_days} working days. Answer here "
                    "or send a report naming this case to reopen it.",
                    now,
                )
                done.append(f"{case['case']}: solved presumptively")
        return done

    # --- what the box reads ---------------------------------------------------------------------
    def state_for_box(self, case: dict) -> dict:
        """The case as its box sees it: state, priority, support's newest messages and questions."""
        said = [a for a in case["articles"] if a["by"] == "support"][-MESSAGES_TO_BOX:]
        return {
            "case": case["case"],
            "state": case["state"],
            "priority": case["priority"],
            "subject": case["subject"],
            "version": case["version"],
            "updated": self.clock(),
            "reports": [a["report_id"] for a in case["articles"] if a["by"] == "box"][-50:],
            "messages": [
                {
                    "id": a["id"],
                    "kind": a["kind"],
                    "text": a["text"],
                    "at": a["at"],
                    "answered": bool(a.get("answered")),
                    **({"photo": a["photo"]} if a.get("photo") else {}),
                }
                for a in said
            ],
        }
