"""The case conversation end to end, with real peers: the reference intake (HTTPS, MQTT, SMTP), Mosquitto,
the daemon, the CLI, and headless Chromium on the page at phone width (390x844)."""

from __future__ import annotations

import io
import json
import smtplib
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage

import peers
import pytest
import requests
from test_cases import camera_jpeg

SUPPORT = "support@wallbox.example"
WEB = {"X-Requested-With": "diag-agent"}


def intake_cmd(tmp_path, *args) -> str:
    return subprocess.run(
        [
            sys.executable,
            str(peers.SCRIPTS / "support_intake.py"),
            *args[:1],
            "--store",
            str(tmp_path / "intake-run" / "intake"),
            *args[1:],
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def intake_case(tmp_path, number: str) -> dict:
    return json.loads(intake_cmd(tmp_path, "show", number, "--json"))


def all_cases(tmp_path) -> list[dict]:
    return peers.intake_cases(tmp_path / "intake-run" / "intake")


def page_api(port: int, path: str) -> dict:
    return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).json()


@pytest.fixture
def rig(tmp_path, certs, broker, make_config, agent_process, cli):
    """Intake with MQTT and SMTP, a daemon with MQTT and its page; `start()` (re)starts the daemon."""
    intake = peers.start_intake(
        tmp_path / "intake-run", certs["cert"], certs["key"], mqtt_port=broker.info["port"], extra=["--smtp-port", "0"]
    )
    port = peers.free_port()
    backend = {"url": intake.info["url"], "ca_file": certs["ca"]}

    def configure(backend=backend, mqtt=True):
        return make_config(
            backend=backend,
            mqtt={"enabled": mqtt, "port": broker.info["port"]},
            extra={"web": {"port": port}, "support": {"email": SUPPORT}, "cloud": {"command_key": KEY}},
        )

    rig = {"intake": intake, "port": port, "config": configure(), "configure": configure, "broker": broker}

    def start():
        rig["agent"] = agent_process(rig["config"])
        peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
        return rig["agent"]

    def report(*extra):
        return cli(
            "report",
            "--subject",
            "Charging stops after a minute",
            "--description",
            peers.REPORT_DESCRIPTION,
            "--email",
            peers.REPORT_EMAIL,
            "--config",
            rig["config"],
            *extra,
        )

    rig.update(start=start, report=report)
    yield rig
    intake.stop()


KEY = "conversation-key-0001"


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


def test_a_box_that_was_off_reads_the_question_when_it_starts(rig, tmp_path):
    agent = rig["start"]()
    rig["report"]()
    agent.stop()
    intake_cmd(tmp_path, "ask", "CASE-000001", "Which firmware did the installer put on last week?")
    rig["start"]()  # MQTT: the retained state of the case waits on the broker
    view = peers.wait_for(lambda: page_api(rig["port"], "/api/cases")["open_questions"], 15, "the question")
    assert view[0]["text"].startswith("Which firmware") and view[0]["case"] == "CASE-000001"
    # The case chase, on the intake's clock set ahead: one reminder after 3 working days, closed after 6.
    asked = intake_case(tmp_path, "CASE-000001")["articles"][-1]["at"]
    later = lambda days: datetime.fromtimestamp(asked + days * 86400, UTC).isoformat()  # noqa: E731
    assert intake_cmd(tmp_path, "chase", "--now", later(5)).strip() == "CASE-000001: reminded"
    peers.wait_for(
        lambda: "Reminder" in page_api(rig["port"], "/api/cases")["cases"][0]["messages"][-1]["text"],
        15,
        "the reminder on the box",
    )
    assert intake_cmd(tmp_path, "chase", "--now", later(12)).strip() == "CASE-000001: solved presumptively"
    peers.wait_for(lambda: page_api(rig["port"], "/api/cases")["cases"][0]["state"] == "solved", 15, "solved")
    assert page_api(rig["port"], "/api/cases")["open_questions"] == []  # a solved case asks nothing


def test_a_box_without_mqtt_reads_its_cases_over_https(rig, tmp_path):
    rig["config"] = rig["configure"](mqtt=False)
    agent = rig["start"]()
    rig["report"]()
    agent.stop()
    intake_cmd(tmp_path, "ask", "CASE-000001", "Does the car charge on another wallbox?")
    rig["start"]()  # no broker: the box reads its cases over HTTPS at start and after each delivery
    view = peers.wait_for(lambda: page_api(rig["port"], "/api/cases")["open_questions"], 15, "the question")
    assert view[0]["id"] == "Q2"


def test_more_data_from_support_attaches_to_the_case_it_names(rig, tmp_path):
    from test_cloud import Cloud

    rig["start"]()
    rig["report"]()
    peers.wait_for(
        lambda: json.loads(
            subprocess.run(
                peers.agent_argv() + ["status", "--json", "--config", str(rig["config"])],
                capture_output=True,
                text=True,
            ).stdout
        )["mqtt_connected"],
        15,
        "MQTT",
    )
    cloud = Cloud(rig["broker"])
    try:
        cmd = cloud.send("more_data", {"case_ref": "CASE-000001", "sections": ["logs"]}, key=KEY)
        assert cloud.reply_to(cmd["id"])["status"] == "accepted"
    finally:
        cloud.close()
    case = peers.wait_for(
        lambda: (c := intake_case(tmp_path, "CASE-000001")) and len(c["articles"]) == 2 and c,
        30,
        "the follow-up in CASE-000001",
    )
    assert case["articles"][1]["kind"] == "follow_up" and case["articles"][1]["attached"]
    assert len(all_cases(tmp_path)) == 1
    reports = page_api(rig["port"], "/api/cases")["reports"]
    assert {r["case"] for r in reports} == {"CASE-000001"} and sum(r["attached"] for r in reports) == 1


def test_a_refused_report_is_retried_from_the_cli(tmp_path, certs, make_config, agent_process, cli):
    intake = peers.start_intake(
        tmp_path / "intake-run", certs["cert"], certs["key"], extra=["--refuse", "1", "--refuse-status", "403"]
    )
    try:
        path = make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"]})
        agent_process(path)
        out = cli(
            "report",
            "--subject",
            "Charging stops after a minute",
            "--description",
            peers.REPORT_DESCRIPTION,
            "--email",
            peers.REPORT_EMAIL,
            "--config",
            path,
        )
        assert out.returncode == 3 and "refused by the backend" in out.stdout
        listing = cli("cases", "--config", path).stdout
        report_id = out.stdout.split()[1]
        assert f"retry: diag-agent retry {report_id}" in listing
        again = cli("retry", report_id, "--config", path)
        assert again.returncode == 0 and report_id in again.stdout
        peers.wait_for(lambda: all_cases(tmp_path), 20, "the case after the retry")
        # The page's Retry button asks the same of the API.
        intake.stop()
        intake = peers.start_intake(
            tmp_path / "intake-run", certs["cert"], certs["key"], extra=["--refuse", "1", "--refuse-status", "403"]
        )
        path = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"]},
            extra={"web": {"port": json.loads(path.read_text())["web"]["port"]}},
        )
        agent_process.stop_all()
        agent_process(path)
        out = cli(
            "report",
            "--subject",
            "Charging stops after a minute",
            "--description",
            peers.REPORT_DESCRIPTION,
            "--email",
            peers.REPORT_EMAIL,
            "--config",
            path,
        )
        page = f"http://127.0.0.1:{json.loads(path.read_text())['web']['port']}"
        r = requests.post(f"{page}/api/retry", json={"report_id": out.stdout.split()[1]}, headers=WEB, timeout=10)
        assert r.status_code == 200 and r.json()["report"]["state"] == "sending"  # tried before: sent again now
        peers.wait_for(lambda: len(all_cases(tmp_path)) == 2, 20, "the second case after the page's retry")
        assert cli("retry", report_id, "--config", path).returncode == 1  # not refused any more
        assert cli("retry", "20260101T000000Z-00000000", "--config", path).stderr.startswith(
            "diag-agent: there is no report"
        )
    finally:
        intake.stop()


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
