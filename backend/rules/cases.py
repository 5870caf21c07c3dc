"""The reference intake's cases: a case is a conversation of articles (reports, follow-ups, answers,
photos and satisfaction checks from the box; questions, photo and data requests and messages from support),
with a state and a priority, kept in the intake's database (intake_db.py) and mirrored into a helpdesk
(intake_desk.py: one ticket per case, one follow-up per article).

Rules (README, "The backend contract"):
- the same report id is always the same article (a retry, the same bundle mailed and uploaded, two workers);
- a report naming a case of the same box attaches to it, and so does a follow-up, an answer, a photo;
- attaching to a solved case reopens it (a satisfaction check does not); on-site raises the case to high;
- support asks a question (or for a photo, or for data): the case waits for the box; an answer to every
  open question opens it again;
- the chase: a question unanswered for CHASE_DAYS working days reminds once, and after as many working
  days more the case is solved presumptively (an answer later reopens it).
The clock is handed in (NOW), so the chase is tested on any day of the week.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.contract import ARTICLE_KINDS as KINDS
from agent.contract import ASKING, PRIORITIES
from backend.helpdesk.desk import Attachment, Desk, DeskError, NoDesk, Said, due, write_note
from backend.rules import Rejected, open_questions
from backend.rules.talk import chase, state_for_box, sync_case
from backend.store import Db
from backend.text import article_text, files_of

log = logging.getLogger("intake")
PHOTO_TYPES = {"photo.jpg": "jpg", "photo.png": "png"}


class CaseStore:
    """Cases in DB (default: SQLite in FOLDER), bundles in FOLDER/bundles/<sha256>.tar.gz (each stored once),
    photos in FOLDER/photos/. ON_CHANGE(case) hears of every change a box must learn about."""

    def __init__(
        self,
        folder: Path,
        on_change: Callable[[dict], None] = lambda case: None,
        clock: Callable[[], float] = time.time,
        chase_days: int = 3,
        db: str | None = None,
        desk: Desk | None = None,
        zone: str = "Europe/Berlin",
        sections: tuple[str, ...] = (),
    ):
        self.folder = folder
        for sub in ("bundles", "photos"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.db = Db(db or f"sqlite:{folder / 'cases.db'}")
        self.desk: Desk = desk or NoDesk()
        self.on_change = on_change
        self.clock = clock
        self.chase_days = chase_days
        self.zone = zone
        self.sections = sections  # the box's section names a data request may name
        self.rejected = 0  # uploads refused as damaged or not matching: a sender bug or a broken transfer

    # --- reading -----------------------------------------------------------------------------------
    @property
    def cases(self) -> list[dict]:
        with self.db.tx() as t:
            return t.cases()

    def get(self, number: str) -> dict:
        with self.db.tx() as t:
            case = t.case(str(number), lock=False)
        if case is None:
            raise Rejected(404, f"no case {number}")
        return case

    def of_box(self, box: str) -> list[dict]:
        with self.db.tx() as t:
            return t.cases("WHERE box = ?", (box,))

    def bundle_path(self, sha256: str) -> Path:
        return self.folder / "bundles" / f"{sha256}.tar.gz"

    # --- what boxes send ------------------------------------------------------------------------
    def accept(self, body: bytes, report_id: str, transport: str) -> tuple[dict, bool]:
        """Verify a bundle and file it; returns its receipt and whether it is new. The same report id
        always gets the same answer, whichever way it came and whichever worker took it."""
        from agent.report.bundle import BundleError, read_bundle

        try:
            manifest, members = read_bundle(body)
        except BundleError as exc:
            self.rejected += 1
            raise Rejected(422, f"damaged bundle: {exc}") from None
        if manifest.get("report_id") != report_id:
            self.rejected += 1
            raise Rejected(422, "the bundle's report id does not match the Idempotency-Key")
        sha = hashlib.sha256(body).hexdigest()
        path = self.bundle_path(sha)
        if not path.exists():  # by its digest: the same bytes are stored once, by whichever worker
            # A name of this writer's own: two threads or workers storing the same bytes never share one.
            tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            tmp.write_bytes(body)
            tmp.replace(path)  # the same bytes under the same name: whoever is last, the file is whole
        with self.db.tx() as t:
            known = t.claim(report_id)
            if known is not None:
                case = t.case(known["case"])
                if case is None:  # a receipt whose case is gone (removed by hand): the receipt still stands
                    return known, False
                for a in case["articles"]:
                    a["deliveries"] += a.get("report_id") == report_id
                case["deliveries"] += 1
                t.save(case)
                return known, False
            case, article = self._file(t, manifest, members, sha, report_id, transport)
            receipt = self.receipt(case, article)
            t.receipt(report_id, case["case"], receipt)
        log.info("report %s filed in %s (via %s)", report_id, case["case"], transport)
        self.on_change(case)
        return receipt, True

    @staticmethod
    def receipt(case: dict, article: dict) -> dict:
        return {
            "case": case["case"],
            "priority": case["priority"],
            "report_id": article["report_id"],
            "attached": article["attached"],
        }

    def _file(self, t, manifest: dict, members: dict, sha: str, report_id: str, transport: str):
        device = manifest.get("device") or {}
        box = str(device.get("serial") or device.get("order_number") or "")
        kind = manifest.get("kind") if manifest.get("kind") in KINDS else "report"
        if kind == "report" and manifest.get("trigger") in ("cloud-follow-up", "follow-up"):
            kind = "follow_up"
        priority = str(manifest["priority"]) if manifest.get("priority") in PRIORITIES else "low"
        on_site = bool(manifest.get("on_site"))
        ref = manifest.get("case_ref") if isinstance(manifest.get("case_ref"), str) else None
        # A case of this very box: a box cannot file into another's conversation by naming its number.
        case = t.case(ref) if isinstance(ref, str) and ref else None
        case = case if case and case["box"] == box else None
        article = {
            "kind": kind,
            "by": "box",
            "report_id": report_id,
            "at": self.clock(),
            "transport": transport,
            "deliveries": 1,
            "attached": case is not None,
            "on_site": on_site,
            "subject": str(manifest.get("subject", ""))[:120],
            "sha256": sha,
            "question": manifest.get("question") if isinstance(manifest.get("question"), str) else None,
        }
        if kind == "answer":
            article["text"] = str(manifest.get("text", ""))[:4000]
        if kind == "feedback":
            article["easy"] = manifest.get("easy") is True
        if kind == "photo":
            name = next((n for n in members if n in PHOTO_TYPES), None)
            if name:
                path = self.folder / "photos" / f"{report_id}.{PHOTO_TYPES[name]}"
                path.write_bytes(members[name])
                article.update(file=str(path), label=str(manifest.get("label", ""))[:80], bytes=len(members[name]))
        files = files_of(article, manifest, members, self.bundle_path(sha))
        if case is None:
            case = self._open(t, box, str(device.get("serial", "")), article, priority, ref, files)
        else:
            self._attach(case, article, priority, on_site)
            case["articles"].append(article)
            case["version"] += 1
            self._post(t, case, article, files)
        case["deliveries"] += 1
        t.save(case, new=case["version"] == 1)
        return case, article

    def _open(self, t, box: str, serial: str, article: dict, priority: str, ref, files: list[Attachment]) -> dict:
        received = article["at"]
        case = {
            "seq": t.next_number("case"),
            "box": box,
            "serial": serial,
            "state": "open",
            "priority": priority,
            "on_site": article["on_site"],
            "subject": article["subject"],
            "case_ref": ref,
            "report_id": article["report_id"],
            "received": received,
            "due": due(received, priority, self.zone),
            "transport": article["transport"],
            "deliveries": 0,
            "sha256": article["sha256"],
            "articles": [article],
            "questions": 0,
            "version": 1,
        }
        try:  # the case number the box shows is the ticket's: without a ticket, no receipt (the box retries)
            case["case"], written = self.desk.open(case, files)
        except DeskError as exc:
            raise Rejected(503, f"the helpdesk did not open a ticket: {exc}") from None
        for desk_id in written:  # the helpdesk's own "ticket opened" follow-up is not support's word
            t.take_note(desk_id, case["case"])
        self._post(t, case, article, files)
        return case

    def _post(self, t, case: dict, article: dict, files: list[Attachment]) -> None:
        """The article as a follow-up on the ticket; one the helpdesk does not take now is posted by sync()."""
        try:
            article["desk"] = self.desk.post(case, article_text(article, case), files)
            if article["desk"]:
                t.take_note(article["desk"], case["case"])
        except DeskError as exc:
            article["desk"] = None
            log.warning(
                "case %s: the helpdesk did not take an article (%s); it is posted again later", case["case"], exc
            )

    def _attach(self, case: dict, article: dict, priority: str, on_site: bool) -> None:
        if on_site:  # an installer is at the box now: the case is handled first
            case["priority"], case["on_site"] = "high", True
        elif PRIORITIES.index(priority) < PRIORITIES.index(case["priority"]):
            case["priority"] = priority
        if article["kind"] == "feedback":
            case["feedback"] = "easy" if article["easy"] else "not easy"
            return  # a satisfaction check neither reopens nor answers
        if article["question"]:  # an answer, a photo, a report sent for a data request
            for q in case["articles"]:
                if q["by"] == "support" and q["id"] == article["question"] and q["kind"] in ASKING:
                    q["answered"] = article["report_id"]
        if case["state"] == "solved":
            case["state"] = "reopened"
        elif case["state"] == "waiting" and not open_questions(case):
            case["state"] = "open"

    # --- what support does ----------------------------------------------------------------------
    def support(self, number: str, said: Said | None, solve: str | None = None, at: float | None = None) -> dict:
        """Support's words to the box (SAID) or a solve (with why): written into the helpdesk when there is
        one, as staff would, and taken from there; written here when there is none."""
        if not isinstance(self.desk, NoDesk):
            shown = self.get(number)
            self.desk.say(shown, write_note(said) if said else solve or "", solved=solve is not None)
            return self.sync_case(number)
        with self.db.tx() as t:
            case = t.case(number)
            if case is None:
                raise Rejected(404, f"no case {number}")
            self._support_says(case, said, solve, at)
            case["version"] += 1
            t.save(case)
        self.on_change(case)
        return case

    def _support_says(
        self, case: dict, said: Said | None, solve: str | None, at: float | None, desk_id=None
    ) -> dict | None:
        article = None
        if said:
            article = self._say(case, said, at, desk_id)
            if said.kind in ("question", "photo", "data"):
                case["state"] = "waiting"
        if solve is not None:
            self._say(case, Said("message", solve), at)
            case["state"] = "solved"
        return article

    def _say(self, case: dict, said: Said, at: float | None, desk_id: str | None = None) -> dict:
        kind = "question" if said.kind == "photo" else said.kind
        case["questions"] += kind in ASKING
        now = self.clock() if at is None else at
        article = {
            "kind": kind,
            "by": "support",
            "id": f"{'Q' if kind in ASKING else 'M'}{len(case['articles']) + 1}",
            "text": said.text[:2000],
            "at": now,
            "desk": desk_id,
        }
        if said.kind == "photo":
            article["photo"] = said.view
        if said.kind == "data":
            article.update(sections=said.sections, since=now - said.last_s if said.last_s else None, until=now)
        case["articles"].append(article)
        return article

    def ask(self, number: str, text: str, photo: str | None = None) -> dict:
        return self.support(number, Said("photo", text, view=photo) if photo else Said("question", text))

    def tell(self, number: str, text: str) -> dict:
        return self.support(number, Said("message", text))

    def solve(self, number: str, why: str = "Solved by support.", at: float | None = None) -> dict:
        return self.support(number, None, solve=why, at=at)

    def chase(self, now: float | None = None) -> list[str]:
        return chase(self, self.clock() if now is None else now)

    # --- with the helpdesk, and what the box reads ----------------------------------------------
    def sync_case(self, number: str) -> dict:
        return sync_case(self, number)

    def state_for_box(self, case: dict) -> dict:
        return state_for_box(case, self.clock())
