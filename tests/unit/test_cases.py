"""The case conversation's parts on their own: the intake's case rules (attach, reopen, raise, the chase on an
injected clock), the box's case book, and the photo check that strips what a camera tells about a person."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime

import pytest

from agent.cases.book import CaseBook, CaseStateError, check_state
from agent.cases.photos import PhotoError, clean_photo
from agent.report.bundle import Section, write_bundle
from backend.rules import working_days_between
from backend.rules.cases import CaseStore
from rigs import peers  # noqa: F401  (puts scripts/ on the path)

FRIDAY_3PM = datetime(2026, 11, 27, 15, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def bundle(
    report_id: str,
    box: str = "BOX-1",
    case_ref: str | None = None,
    priority: str = "low",
    on_site: bool = False,
    trigger: str = "local",
    kind: str | None = None,
    extra: dict | None = None,
    members: list[Section] | None = None,
) -> bytes:
    manifest = {
        "report_id": report_id,
        "device": {"serial": box},
        "priority": priority,
        "on_site": on_site,
        "subject": f"subject of {report_id}",
        "case_ref": case_ref,
        "trigger": trigger,
        **(extra or {}),
    }
    if kind:
        manifest["kind"] = kind
    out = io.BytesIO()
    write_bundle(out, manifest, members or [Section("summary.json", b"{}\n")])
    return out.getvalue()


@pytest.fixture
def store(tmp_path):
    now = [FRIDAY_3PM]
    changed: list[dict] = []
    s = CaseStore(tmp_path / "intake", on_change=lambda c: changed.append(dict(c)), clock=lambda: now[0])
    s.now, s.changed = now, changed
    return s


def test_a_report_naming_a_known_case_of_its_box_attaches_and_says_so(store):
    first, new = store.accept(bundle("r1"), "r1", "https")
    assert new and first == {"case": "CASE-000001", "priority": "low", "report_id": "r1", "attached": False}
    second, _ = store.accept(bundle("r2", case_ref="CASE-000001"), "r2", "https")
    assert second == {"case": "CASE-000001", "priority": "low", "report_id": "r2", "attached": True}
    # Another box naming that case gets a case of its own: it cannot write into a stranger's conversation.
    other, _ = store.accept(bundle("r3", box="BOX-2", case_ref="CASE-000001"), "r3", "https")
    assert other["case"] == "CASE-000002" and other["attached"] is False
    # An unknown reference (a ticket from elsewhere) opens a case that keeps the reference.
    unknown, _ = store.accept(bundle("r4", case_ref="TICKET-77"), "r4", "mqtt")
    assert unknown["case"] == "CASE-000003" and store.get("CASE-000003")["case_ref"] == "TICKET-77"
    # The same report again, by any way, is the same answer and no new article.
    again, new = store.accept(bundle("r2", case_ref="CASE-000001"), "r2", "email")
    assert again == second and not new and len(store.get("CASE-000001")["articles"]) == 2


def test_a_follow_up_attaches_reopens_a_solved_case_and_on_site_raises_it(store):
    store.accept(bundle("r1", priority="low"), "r1", "https")
    store.solve("CASE-000001")
    assert store.get("CASE-000001")["state"] == "solved"
    receipt, _ = store.accept(bundle("r2", case_ref="CASE-000001", trigger="cloud-follow-up"), "r2", "mqtt")
    case = store.get("CASE-000001")
    assert receipt["attached"] and case["state"] == "reopened" and case["articles"][-1]["kind"] == "follow_up"
    assert len(store.cases) == 1
    receipt, _ = store.accept(bundle("r3", case_ref="CASE-000001", priority="high", on_site=True), "r3", "https")
    assert receipt["priority"] == "high" and store.get("CASE-000001")["on_site"] is True
    # The box learns each change: opened, solved, reopened, raised.
    assert [c["state"] for c in store.changed] == ["open", "solved", "reopened", "reopened"]


def test_a_question_makes_the_case_wait_and_its_answer_opens_it_again(store):
    store.accept(bundle("r1"), "r1", "https")
    store.ask("CASE-000001", "Is the RCD in the distribution board switched on?")
    state = store.state_for_box(store.get("CASE-000001"))
    assert state["state"] == "waiting" and state["messages"][-1]["kind"] == "question"
    qid = state["messages"][-1]["id"]
    answer = bundle(
        "a1",
        case_ref="CASE-000001",
        kind="answer",
        extra={"question": qid, "text": "Yes, it is on."},
        members=[Section("answer.txt", b"Yes, it is on.\n")],
    )
    receipt, _ = store.accept(answer, "a1", "https")
    assert receipt["attached"] and store.get("CASE-000001")["state"] == "open"
    assert store.state_for_box(store.get("CASE-000001"))["messages"][-1]["answered"] is True


def test_working_days_skip_the_weekend():
    assert working_days_between(FRIDAY_3PM, FRIDAY_3PM + 3 * DAY) == 1  # Fri 15:00 -> Mon 15:00
    assert working_days_between(FRIDAY_3PM, FRIDAY_3PM + 3 * DAY - 60) == 0
    assert working_days_between(FRIDAY_3PM, FRIDAY_3PM + 7 * DAY) == 5


def test_the_case_chase_reminds_once_then_solves_and_an_answer_reopens(store):
    store.accept(bundle("r1"), "r1", "https")
    store.ask("CASE-000001", "Please send a photo of the type plate.")  # Friday 15:00
    assert store.chase(FRIDAY_3PM + 4 * DAY) == []  # Tuesday: two working days
    assert store.chase(FRIDAY_3PM + 5 * DAY) == ["CASE-000001: reminded"]  # Wednesday: three
    assert store.chase(FRIDAY_3PM + 6 * DAY) == []  # reminded once only
    case = store.get("CASE-000001")
    assert case["state"] == "waiting" and case["articles"][-1]["text"].startswith("Reminder")
    assert store.chase(FRIDAY_3PM + 10 * DAY) == ["CASE-000001: solved presumptively"]  # three more working days
    assert store.get("CASE-000001")["state"] == "solved"
    assert store.chase(FRIDAY_3PM + 20 * DAY) == []
    qid = next(a["id"] for a in case["articles"] if a["kind"] == "question")
    store.accept(
        bundle(
            "a1",
            case_ref="CASE-000001",
            kind="answer",
            extra={"question": qid, "text": "here"},
            members=[Section("answer.txt", b"here\n")],
        ),
        "a1",
        "https",
    )
    assert store.get("CASE-000001")["state"] == "reopened"


# --- the box's case book ----------------------------------------------------------------------------
def state(case="CASE-000001", version=1, **kw):
    return {"case": case, "state": "open", "priority": "low", "version": version, "messages": [], **kw}


def test_the_book_keeps_the_newest_version_and_a_bounded_number_of_cases(tmp_path):
    book = CaseBook(tmp_path, max_cases=3)
    assert book.apply(state(version=2, state="waiting"), seen=1)
    assert not book.apply(state(version=1, state="open"), seen=2)  # an older retained copy: ignored
    assert book.get("CASE-000001")["state"] == "waiting"
    for i in range(2, 6):
        book.apply(state(case=f"CASE-00000{i}"), seen=1 + i)
    assert [c["case"] for c in book.cases()] == ["CASE-000005", "CASE-000004", "CASE-000003"]
    again = CaseBook(tmp_path, max_cases=3)  # what a restart finds
    assert [c["case"] for c in again.cases()] == ["CASE-000005", "CASE-000004", "CASE-000003"]


def test_an_answer_given_here_closes_the_question_before_the_backend_counts_it(tmp_path):
    book = CaseBook(tmp_path, max_cases=5)
    book.apply(state(state="waiting", messages=[{"id": "Q2", "kind": "question", "text": "Which cable?"}]), seen=1)
    assert [q["id"] for q in book.cases()[0]["open_questions"]] == ["Q2"]
    book.answered("CASE-000001", "Q2")
    assert book.cases()[0]["open_questions"] == [] and book.cases()[0]["messages"][0]["answered"]
    assert CaseBook(tmp_path, max_cases=5).cases()[0]["open_questions"] == []


@pytest.mark.parametrize(
    "bad, why",
    [
        ("[]", "not a JSON object"),
        (state(case="../../etc"), "case"),
        (state(state="closed"), "state"),
        (state(priority="urgent"), "priority"),
        (state(version=True), "version"),
        (state(messages=[{"id": "Q1", "kind": "question"}]), "messages"),
        (state(messages=[{"id": "Q 1<script>", "kind": "question", "text": "x"}]), "messages"),
    ],
)
def test_a_case_state_the_box_cannot_use_is_refused_with_the_reason(bad, why):
    with pytest.raises(CaseStateError, match=why):
        check_state(json.loads(bad) if isinstance(bad, str) else bad)


def test_a_long_message_is_cut_to_the_books_bounds():
    long = state(messages=[{"id": f"M{i}", "kind": "message", "text": "x" * 10_000} for i in range(100)])
    checked = check_state(long)
    assert len(checked["messages"]) == 30 and {len(m["text"]) for m in checked["messages"]} == {2000}


# --- photos -----------------------------------------------------------------------------------------
def camera_jpeg(progressive: bool = False) -> bytes:
    """A real JPEG as a phone writes it: EXIF with the camera and a GPS position, and a comment."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 90, 160)).save(
        out, "JPEG", exif=exif.tobytes(), comment=b"owner: Jane", progressive=progressive
    )
    return out.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_a_camera_jpeg_loses_its_exif_and_gps_and_stays_the_same_image(progressive):
    from PIL import Image

    raw = camera_jpeg(progressive)
    assert b"PhoneMaker" in raw and Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)
    photo = clean_photo(raw)
    assert (photo.kind, photo.width, photo.height) == ("jpg", 320, 240) and photo.removed == ["EXIF", "JFIF", "comment"]
    back = Image.open(io.BytesIO(photo.data))
    back.load()
    assert not back.getexif() and b"PhoneMaker" not in photo.data and b"owner" not in photo.data
    assert back.tobytes() == Image.open(io.BytesIO(raw)).tobytes()  # not re-encoded: the same pixels


def test_a_png_loses_its_text_and_exif_chunks():
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "52.52,13.40")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    Image.new("RGB", (64, 48)).save(out, "PNG", pnginfo=info, exif=exif.tobytes())
    photo = clean_photo(out.getvalue())
    assert photo.removed == ["eXIf", "tEXt"]
    assert b"52.52" not in photo.data and b"PhoneMaker" not in photo.data
    assert Image.open(io.BytesIO(photo.data)).size == (64, 48)


def test_what_is_not_a_sound_photo_is_refused_with_a_reason():
    jpeg = camera_jpeg()
    with pytest.raises(PhotoError, match="not a JPEG or PNG"):
        clean_photo(b"<html>this is not a photo</html>")
    with pytest.raises(PhotoError, match="damaged JPEG"):
        clean_photo(jpeg[: len(jpeg) // 2])
    sof = jpeg.index(b"\xff\xc0")  # the frame header: claim 20000 x 20000 pixels
    huge = jpeg[: sof + 5] + struct.pack(">HH", 20000, 20000) + jpeg[sof + 9 :]
    with pytest.raises(PhotoError, match="megapixels"):
        clean_photo(huge)
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    png = bytearray(out.getvalue())
    png[20] ^= 0xFF  # inside IHDR: its checksum no longer fits
    with pytest.raises(PhotoError, match="checksum"):
        clean_photo(bytes(png))
    with pytest.raises(PhotoError, match="MiB"):
        clean_photo(b"\xff\xd8" + b"\0" * (9 << 20))
