"""Support works in a real helpdesk: django-helpdesk on Debian's PostgreSQL, started here, with the intake
between it and a real box. The whole conversation (report -> ticket; a staff question -> the box -> its
answer -> a follow-up; a photo request -> the photo attached; a data request answered by the box alone;
resolved -> the satisfaction check -> a reply reopens), the chase on an injected clock, two intake workers
racing on retried reports, shared MQTT subscriptions and MQTT 3.1.1. Screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from rigs import backend_peers, peers
from tests.unit.test_cases import bundle

WEB = {"X-Requested-With": "diag-agent"}
ARTIFACTS = peers.ROOT / "test-artifacts" / "helpdesk"


@pytest.fixture(scope="session")
def postgres():
    pg = backend_peers.start_postgres()
    template = pg.create("helpdesk_template")
    backend_peers.migrate_helpdesk(pg.folder / "migrate", template)
    yield pg
    pg.stop()


def databases(postgres, tmp_path) -> tuple[str, str]:
    """A helpdesk (copied from the migrated template) and an intake database of this test's own."""
    name = hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]
    return postgres.create(f"hd_{name}", template="helpdesk_template"), postgres.create(f"in_{name}")


def start_worker(tmp_path, certs, helpdesk, intake_db, port=0, mqtt_port=None, extra=(), name="intake"):
    argv = ["--port", str(port), "--db", intake_db, "--helpdesk", helpdesk.url, "--helpdesk-queue", "wallbox:1"]
    return peers.start_intake(
        tmp_path / "intake-run",
        certs["cert"],
        certs["key"],
        mqtt_port=mqtt_port,
        extra=argv + list(extra),
        env={"DIAG_HELPDESK_TOKEN": helpdesk.intake_token},
        name=name,
    )


@pytest.fixture
def desk(tmp_path, certs, broker, postgres, make_config, agent_process):
    """The helpdesk with webhooks to the intake (no polling: a webhook is the only way the intake hears),
    the intake on it, and a box that sends by HTTPS and hears its cases over MQTT."""
    hd_db, intake_db = databases(postgres, tmp_path)
    port = peers.free_port()
    helpdesk = backend_peers.start_helpdesk(
        tmp_path, hd_db, webhook=f"https://127.0.0.1:{port}/api/v1/helpdesk/events", ca=certs["ca"]
    )
    intake = start_worker(
        tmp_path, certs, helpdesk, intake_db, port, broker.info["port"], ["--poll-s", "3600", "--sync-s", "0.5"]
    )
    web = peers.free_port()
    cfg = make_config(
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        mqtt={"enabled": True, "port": broker.info["port"]},
        extra={"web": {"port": web}},
    )
    agent = agent_process(cfg)
    peers.wait_for(lambda: peers.port_open(web), 15, "the local page")
    yield {"helpdesk": helpdesk, "intake": intake, "config": cfg, "web": web, "agent": agent}
    intake.stop()
    helpdesk.stop()


def staff_says(helpdesk, ticket: int, comment: str, status: int | None = None) -> dict:
    """A support person's follow-up on the ticket, public (for the box), through the helpdesk's API."""
    data = {"ticket": ticket, "comment": comment, "public": "true"}
    if status:
        data["new_status"] = status
    return helpdesk.api("followups/", "POST", data=data)


def box(port: int, path: str, body: dict | None = None, raw: bytes | None = None, kind: str = "") -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    if body is None and raw is None:
        return requests.get(url, timeout=10).json()
    headers = dict(WEB, **({"Content-Type": kind} if kind else {}))
    r = requests.post(url, json=body, data=raw, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()


def followup(helpdesk, ticket: int, text: str, files: int = 0) -> dict | None:
    """The follow-up saying TEXT, once it has FILES attachments: django-helpdesk saves a follow-up and then, in
    the same request but not in one transaction, its attachments; a reader in between sees none yet."""
    found = (f for f in helpdesk.api(f"tickets/{ticket}/")["followup_set"] if text in f["comment"])
    return next((f for f in found if len(f["followupattachment_set"]) >= files), None)


def report(cli, cfg, subject: str):
    out = cli("report", "--config", cfg, *peers.report_argv(subject))
    assert out.returncode == 0, out.stdout + out.stderr
    return re.search(r"case (wallbox-\d+)", out.stdout).group(1)


def intake_cli(tmp_path, helpdesk, *args) -> subprocess.CompletedProcess:
    store = str(tmp_path / "intake-run" / "intake")
    return subprocess.run(
        [sys.executable, "-m", "backend", args[0], "--store", store, *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, DIAG_HELPDESK_TOKEN=helpdesk.support_token),
    )


def test_the_chase_and_supports_command_line_work_in_the_helpdesk(desk, cli, tmp_path):
    helpdesk, web = desk["helpdesk"], desk["web"]
    case = report(cli, desk["config"], "The display stays dark")
    ticket_id = int(case.rsplit("-", 1)[1])
    listing = intake_cli(tmp_path, helpdesk, "list")
    assert listing.returncode == 0 and case in listing.stdout and "support" in listing.stdout, listing.stderr
    shown = intake_cli(tmp_path, helpdesk, "show", case).stdout
    assert "bundle: " in shown and "Software: 2.4.1" in shown and "Faults: " in shown and "On site: no" in shown
    assert intake_cli(tmp_path, helpdesk, "show", "wallbox-999").returncode == 2
    assert intake_cli(tmp_path, helpdesk, "list").returncode == 0
    wrong = subprocess.run(
        [sys.executable, "-m", "backend", "list", "--store", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert wrong.returncode == 2 and "not an intake's store" in wrong.stderr

    # The command line writes in the helpdesk as staff would: the box hears it the same way.
    said = intake_cli(tmp_path, helpdesk, "ask", case, "Which cable did you use for the supply?")
    assert said.returncode == 0 and "waiting" in said.stdout, said.stderr
    assert followup(helpdesk, ticket_id, "Question: Which cable did you use")
    peers.wait_for(lambda: box(web, "/api/cases")["open_questions"], 15, "the question on the box")
    assert "the box" in intake_cli(tmp_path, helpdesk, "list").stdout  # whose turn: the box's

    # Nobody answers: three working days later one reminder, three more and the ticket is resolved.
    asked = datetime.now(ZoneInfo("Europe/Berlin"))
    later = asked + timedelta(days=5)  # at least three working days, whatever today is
    out = intake_cli(tmp_path, helpdesk, "chase", "--now", later.isoformat()).stdout
    assert out.strip() == f"{case}: reminded"
    assert followup(helpdesk, ticket_id, "Reminder: support is still waiting")
    peers.wait_for(
        lambda: any(m["text"].startswith("Reminder") for m in box(web, "/api/cases")["cases"][0]["messages"]),
        15,
        "the reminder on the box",
    )
    out = intake_cli(tmp_path, helpdesk, "chase", "--now", (later + timedelta(days=5)).isoformat()).stdout
    assert out.strip() == f"{case}: solved presumptively"
    assert helpdesk.api(f"tickets/{ticket_id}/")["status"] == 3
    peers.wait_for(lambda: box(web, "/api/cases")["cases"][0]["state"] == "solved", 15, "closed on the box")
    assert "Closed: no answer" in box(web, "/api/cases")["cases"][0]["messages"][-1]["text"]


def test_two_workers_racing_on_100_retried_reports_open_100_tickets(tmp_path, certs, postgres, broker):
    hd_db, intake_db = databases(postgres, tmp_path)
    helpdesk = backend_peers.start_helpdesk(tmp_path, hd_db)
    share = ["--mqtt-share", "intake", "--poll-s", "3600"]
    workers = [
        start_worker(tmp_path, certs, helpdesk, intake_db, mqtt_port=broker.info["port"], extra=share, name=f"w{i}")
        for i in range(2)
    ]
    try:
        bodies = {f"20261203T0900{i:02d}Z-{i:08x}": None for i in range(100)}
        for rid in bodies:
            bodies[rid] = bundle(rid, box=f"BOX-{int(rid[-8:], 16) % 7}")
        receipts: dict[str, set] = {rid: set() for rid in bodies}

        def send(rid: str, worker) -> None:
            body = bodies[rid]
            digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
            r = requests.post(
                worker.info["url"],
                data=body,
                headers={"Idempotency-Key": rid, "Content-Digest": digest, "Content-Type": "application/gzip"},
                verify=certs["ca"],
                timeout=60,
            )
            assert r.status_code in (200, 201), r.text
            receipts[rid].add(r.json()["case"])

        # Every report three times, to both workers at once, in a shuffled order: retries racing.
        jobs = [(rid, w) for rid in bodies for w in workers for _ in range(2)][:500]
        random.Random(7).shuffle(jobs)
        threads = [threading.Thread(target=lambda part=jobs[i::8]: [send(*j) for j in part]) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert all(len(cases) == 1 for cases in receipts.values())  # one case per report, whoever answered
        assert len({c for cases in receipts.values() for c in cases}) == 100
        assert helpdesk.api("tickets/?page_size=1")["count"] == 100  # 0 duplicate tickets
        stored = list((tmp_path / "intake-run" / "intake" / "bundles").iterdir())
        assert len(stored) == 100 and all(p.name.endswith(".tar.gz") for p in stored)  # each once, by digest

        # MQTT: the two workers split one shared subscription; each report is filed once.
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        got: list = []
        client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
        client.connect("127.0.0.1", broker.info["port"])
        client.subscribe("diag-agent/+/receipt/+", qos=1)
        client.loop_start()
        more = {f"20261203T1000{i:02d}Z-{i:08x}": bundle(f"20261203T1000{i:02d}Z-{i:08x}") for i in range(20)}
        for rid, body in more.items():
            client.publish(f"diag-agent/BOX-1/report/{rid}", body, qos=1).wait_for_publish(10)
        peers.wait_for(lambda: len(got) >= 20, 60, "20 receipts")
        client.loop_stop()
        assert sorted(r["report_id"] for r in got) == sorted(more) and len(got) == 20
        assert helpdesk.api("tickets/?page_size=1")["count"] == 120
        # Each worker took some of the MQTT reports (the broker hands a shared subscription round the group).
        took = [w.log.read_text().count("(via mqtt)") for w in workers]
        assert sum(took) == 20 and min(took) > 0, took
    finally:
        for w in workers:
            w.stop()
        helpdesk.stop()


def test_a_fleet_behind_an_mqtt_3_1_1_broker_files_into_the_helpdesk_and_hears_it_by_polling(
    tmp_path, certs, postgres, make_config, cli, agent_process
):
    hd_db, intake_db = databases(postgres, tmp_path)
    broker = peers.start_amqtt(tmp_path / "amqtt")
    helpdesk = backend_peers.start_helpdesk(tmp_path, hd_db)
    # No webhooks here: the intake reads the open tickets every second (the fallback).
    worker = start_worker(
        tmp_path,
        certs,
        helpdesk,
        intake_db,
        mqtt_port=broker.info["port"],
        extra=["--mqtt-protocol", "3.1.1", "--poll-s", "1", "--sync-s", "0.5"],
    )
    try:
        peers.wait_for(lambda: "subscribed" in worker.log_tail(), 15, "the intake on the 3.1.1 broker")
        web = peers.free_port()
        cfg = make_config(
            backend={"transport": "mqtt", "retry_base_s": 0.2, "retry_max_s": 1.0},
            mqtt={"enabled": True, "port": broker.info["port"], "protocol": "3.1.1"},
            extra={"web": {"port": web}},
        )
        agent_process(cfg)
        case = report(cli, cfg, "Over a 3.1.1-only broker")
        ticket = helpdesk.api(f"tickets/{int(case.rsplit('-', 1)[1])}/")
        assert "Over a 3.1.1-only broker" in ticket["title"]
        assert peers.wait_for(lambda: followup(helpdesk, ticket["id"], "from the box (via mqtt)"), 15, "the follow-up")
        staff_says(helpdesk, ticket["id"], "Question: Does the display show an error code?")
        asked = peers.wait_for(lambda: box(web, "/api/cases")["open_questions"], 20, "the question, polled")
        assert asked[0]["text"] == "Does the display show an error code?"
    finally:
        worker.stop()
        helpdesk.stop()
        broker.stop()
