"""The case conversation end to end, with real peers: the reference intake (HTTPS, MQTT, SMTP), Mosquitto,
the daemon, the CLI, and headless Chromium on the page at phone width (390x844)."""

from __future__ import annotations

import io
import json
import smtplib
from email.message import EmailMessage

import requests

from rigs import peers
from tests.integration.test_conversation import KEY, SUPPORT, WEB, all_cases, intake_case, intake_cmd, page_api, rig  # noqa: F401  (fixtures and helpers shared with that tier)
from tests.unit.test_cases import camera_jpeg


def test_support_asks_and_the_installer_answers_with_text_and_a_photo_at_phone_width(rig, tmp_path, browser, cli):
    rig["start"]()
    out = rig["report"]()
    assert "delivered: case CASE-000001" in out.stdout, out.stdout + out.stderr
    port = rig["port"]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector("#cases .case:has-text('CASE-000001')")
    assert page.is_hidden("#questions")

    intake_cmd(tmp_path, "request-photo", "CASE-000001", "housing", "Please send a photo of the inside of the housing.")
    intake_cmd(tmp_path, "ask", "CASE-000001", "Is the RCD on?")
    page.wait_for_selector("#questions:has-text('Is the RCD on?')", timeout=15_000)
    assert page.text_content("#cases .case .state") == "waiting for you"
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 390)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert wide == [], "wider than a phone's screen"  # no sideways scrolling on a phone
    # One picker, for the view support asked for, under the photo request; none under the text question.
    pickers = page.query_selector_all("#questions input[type=file]")
    assert [p.get_attribute("data-label") for p in pickers] == ["housing"]
    assert page.is_visible("#questions .q:has-text('Inside of the housing')")
    page.screenshot(path=str(tmp_path / "1-question.png"), full_page=True)
    status = json.loads(cli("status", "--json", "--config", rig["config"]).stdout)
    assert status["cases"] == {"open_questions": 2, "waiting_for_you": 1, "dropped": 0}

    photo = tmp_path / "housing.jpg"
    photo.write_bytes(camera_jpeg())
    page.set_input_files("#questions input[data-label=housing]", str(photo))
    # The photo answers the request by itself: it leaves the questions, the text question stays.
    page.wait_for_selector("#questions .q:has-text('Inside of the housing')", state="detached", timeout=15_000)
    page.fill("#questions textarea", "Yes, the RCD is on. The photo shows the housing.")
    page.click("#questions button:has-text('Send answer')")
    page.wait_for_selector("#said:has-text('on its way')")
    # The installer's own words, shown back under the question.
    page.wait_for_selector("#cases .said:has-text('Yes, the RCD is on')", timeout=15_000)
    page.screenshot(path=str(tmp_path / "2-answered.png"), full_page=True)

    # The box checks and strips a photo itself, whatever a client sends: the camera's file, straight in.
    r = requests.post(
        f"http://127.0.0.1:{port}/api/photo?case=CASE-000001&label=type_plate",
        data=camera_jpeg(),
        headers=dict(WEB, **{"Content-Type": "image/jpeg"}),
        timeout=10,
    )
    assert r.status_code == 202 and r.json()["removed"] == ["EXIF", "JFIF", "comment"], r.text
    fake = requests.post(
        f"http://127.0.0.1:{port}/api/photo?case=CASE-000001&label=lid",
        data=b"GIF89a not a jpeg",
        headers=dict(WEB, **{"Content-Type": "image/jpeg"}),
        timeout=10,
    )
    assert fake.status_code == 422 and "cannot be sent: " in fake.json()["error"]

    def arrived():
        case = intake_case(tmp_path, "CASE-000001")
        kinds = [a["kind"] for a in case["articles"]]
        return case if kinds.count("photo") == 2 and "answer" in kinds and case["state"] == "open" else None

    case = peers.wait_for(arrived, 30, "the answer and both photos in CASE-000001")
    assert len(all_cases(tmp_path)) == 1
    answer = next(a for a in case["articles"] if a["kind"] == "answer")
    assert answer["question"] == "Q3" and answer["text"].startswith("Yes, the RCD is on")
    request = next(a for a in case["articles"] if a.get("id") == "Q2")
    housing = next(a for a in case["articles"] if a["kind"] == "photo" and a.get("question") == "Q2")
    assert request["answered"] == housing["report_id"]  # the photo is the answer to the request
    stored = tmp_path / "intake-run" / "intake" / "bundles" / f"{answer['sha256']}.tar.gz"
    shown = cli("inspect", stored).stdout
    assert "case      CASE-000001" in shown and "answer    to Q3: Yes, the RCD is on" in shown
    from PIL import Image

    for a in (a for a in case["articles"] if a["kind"] == "photo"):
        data = open(a["file"], "rb").read()
        image = Image.open(io.BytesIO(data))
        assert not image.getexif() and b"PhoneMaker" not in data and b"owner" not in data, a["label"]
    page.wait_for_selector("#cases .case .state:has-text('open')", timeout=15_000)
    assert page.is_hidden("#questions")

    shown = intake_cmd(tmp_path, "show", "CASE-000001")
    assert "question  Q3:" in shown and "(answered)" in shown and "answer    to Q3" in shown and "photo" in shown
    (tmp_path / "show.txt").write_text(shown)

    # Solved; a reply from the page reopens it, in the same case; so does a report that names it.
    intake_cmd(tmp_path, "solve", "CASE-000001")
    page.wait_for_selector("#cases .case .state:has-text('solved')", timeout=15_000)
    page.click("#cases summary:has-text('Reply (reopens the case)')")
    page.fill("#cases details textarea", "It stopped again this morning.")
    page.click("#cases button:has-text('Send reply')")
    page.wait_for_selector("#cases .case .state:has-text('reopened')", timeout=15_000)
    assert any(
        a.get("text", "").startswith("It stopped again") for a in intake_case(tmp_path, "CASE-000001")["articles"]
    )
    out = rig["report"]("--case", "CASE-000001")
    assert "added to case CASE-000001" in out.stdout, out.stdout + out.stderr
    page.screenshot(path=str(tmp_path / "3-reopened.png"), full_page=True)
    assert len(all_cases(tmp_path)) == 1 and intake_case(tmp_path, "CASE-000001")["state"] == "reopened"
    listing = cli("cases", "--config", rig["config"]).stdout
    assert "CASE-000001  reopened" in listing and "support Q3:" in listing and "(answered)" in listing
    (tmp_path / "cases.txt").write_text(listing)


def test_a_report_mailed_by_hand_and_uploaded_later_is_one_case(rig, tmp_path, cli, browser):
    closed = f"https://127.0.0.1:{peers.free_port()}/api/v1/reports"  # the network is down
    rig["config"] = rig["configure"](backend={"url": closed}, mqtt=False)
    agent = rig["start"]()
    out = rig["report"]("--on-site")
    assert out.returncode == 3, out.stdout + out.stderr
    report = page_api(rig["port"], "/api/cases")["reports"][0]
    away = report["take_away"]
    assert away["email"] == SUPPORT and away["subject"].startswith("ON SITE - Wallbox TEST-0001:")
    assert away["file_name"] == f"diag-report-TEST-0001-{report['report_id']}.tar.gz"
    got = requests.get(f"http://127.0.0.1:{rig['port']}/api/reports/{report['report_id']}/bundle", timeout=10)
    assert away["file_name"] in got.headers["Content-Disposition"]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"http://127.0.0.1:{rig['port']}/")
    page.wait_for_selector(f"#take-away:has-text('{SUPPORT}')")
    assert f'the subject "{away["subject"]}"' in page.text_content("#take-away")

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "installer@example.com", away["email"], away["subject"]
    mail.set_content("The box has no network; the report is attached.")
    mail.add_attachment(got.content, maintype="application", subtype="gzip", filename=away["file_name"])
    with smtplib.SMTP("127.0.0.1", rig["intake"].info["smtp_port"], timeout=10) as smtp:
        refused = smtp.send_message(mail)
    assert refused == {}
    (case,) = all_cases(tmp_path)
    assert case["transport"] == "email" and case["priority"] == "high" and case["report_id"] == report["report_id"]

    agent.stop()  # the network is back
    rig["config"] = rig["configure"](mqtt=False)
    rig["start"]()
    delivered = peers.wait_for(
        lambda: [r for r in page_api(rig["port"], "/api/cases")["reports"] if r["state"] == "delivered"],
        30,
        "the upload",
    )
    assert delivered[0]["case"] == case["case"]
    (again,) = all_cases(tmp_path)
    assert again["deliveries"] == 2 and len(again["articles"]) == 1
