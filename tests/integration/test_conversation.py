"""The case conversation end to end, with real peers: the reference intake (HTTPS, MQTT, SMTP), Mosquitto,
the daemon, the CLI, and headless Chromium on the page at phone width (390x844)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests

from rigs import peers

SUPPORT = "support@wallbox.example"
WEB = {"X-Requested-With": "diag-agent"}


def intake_cmd(tmp_path, *args) -> str:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
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
    from tests.integration.test_cloud import Cloud

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
