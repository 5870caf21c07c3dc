"""The support side's figures (scripts/bench.py calls this): django-helpdesk on PostgreSQL, the intake on it,
a box (the agent against the simulator) that sends by HTTPS and hears its cases over MQTT.

report_to_ticket_s          median of 5: a box's bundle uploaded to the intake until its ticket, with the
                            report's follow-up and attachments, is visible through the helpdesk's API
staff_question_to_box_s     median of 5: a staff follow-up "Question: ..." posted in the helpdesk until the
                            box's page API shows the question (webhook -> intake -> MQTT -> box)
data_request_to_followup_s  median of 3: a staff follow-up "Data ...: ..." until the box's own report is a
                            follow-up on the ticket (the box builds and sends it with no person)
intake_reports_per_s        100 reports (a real bundle each, re-numbered) sent by 8 clients to two intake
                            workers on one PostgreSQL, each filed as a ticket with its follow-up and
                            attachments, divided by the time it all took
"""

from __future__ import annotations

import base64
import hashlib
import io
import statistics
import subprocess
import threading
import time
from pathlib import Path

from rigs import backend_peers, peers


def renumbered(body: bytes, report_id: str) -> bytes:
    """BODY (a real bundle) as the report REPORT_ID: the same members, its manifest's id changed."""
    from agent.report.bundle import Section, read_bundle, write_bundle

    manifest, members = read_bundle(body)
    out = io.BytesIO()
    rest = [Section(name, data) for name, data in members.items() if name != "manifest.json"]
    write_bundle(out, dict(manifest, report_id=report_id, case_ref=None), rest)
    return out.getvalue()


def upload(url: str, ca: str, report_id: str, body: bytes) -> dict:
    import requests

    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    headers = {"Idempotency-Key": report_id, "Content-Digest": digest, "Content-Type": "application/gzip"}
    r = requests.post(url, data=body, headers=headers, verify=ca, timeout=60)
    r.raise_for_status()
    return r.json()


def _attached(helpdesk, ticket: int, text: str) -> bool:
    return any(
        text in f["comment"] and f["followupattachment_set"] for f in helpdesk.api(f"tickets/{ticket}/")["followup_set"]
    )


def figures(work: Path, certs: dict, sim_port: int, broker) -> dict:

    running: list = []
    try:
        pg = backend_peers.start_postgres()
        running.append(pg)
        helpdesk_db, intake_db = pg.create("helpdesk"), pg.create("intake")
        backend_peers.migrate_helpdesk(work / "helpdesk-site", helpdesk_db)
        port = peers.free_port()
        hook = f"https://127.0.0.1:{port}/api/v1/helpdesk/events"
        helpdesk = backend_peers.start_helpdesk(work, helpdesk_db, hook, certs["ca"])
        running.append(helpdesk)
        args = ["--db", intake_db, "--helpdesk", helpdesk.url, "--helpdesk-queue", "wallbox:1", "--sync-s", "0.2"]
        env = {"DIAG_HELPDESK_TOKEN": helpdesk.intake_token}
        workers = [
            peers.start_intake(
                work / "desk",
                certs["cert"],
                certs["key"],
                mqtt_port=broker.info["port"],
                extra=args + ["--port", str(port if i == 0 else 0)],
                env=env,
                name=f"worker{i}",
            )
            for i in range(2)
        ]
        running += workers
        url = workers[0].info["url"]
        web = peers.free_port()
        config = peers.write_agent_config(
            work / "desk-agent.yaml",
            serial="BENCH-DESK-1",
            buses=[{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
            devices=peers.sim_devices(),
            backend={"url": url, "ca_file": certs["ca"]},
            mqtt={"enabled": True, "port": broker.info["port"]},
            state_dir=str(work / "desk-state"),
            extra={"web": {"port": web}},
        )
        agent = peers.start_agent(work / "desk-agent", config)
        running.append(agent)
        peers.wait_for(lambda: peers.port_open(web), 20, "the box's page")
        out = work / "real.tar.gz"
        argv = ["report", "--out", str(out), *peers.report_argv("A bench report"), "--config", str(config)]
        subprocess.run(peers.agent_argv() + argv, env=peers.agent_env(), check=True, capture_output=True, timeout=120)
        real = out.read_bytes()

        to_ticket = []
        for i in range(5):
            rid = f"20261203T1100{i:02d}Z-bench{i:03d}"
            body = renumbered(real, rid)
            t0 = time.perf_counter()
            receipt = upload(url, certs["ca"], rid, body)
            ticket = int(receipt["case"].rsplit("-", 1)[1])
            peers.wait_for(lambda: _attached(helpdesk, ticket, rid), 30, "the ticket", 0.01)
            to_ticket.append(time.perf_counter() - t0)

        # The box's own case: staff questions and data requests to it, through the webhook.
        case = upload(url, certs["ca"], "20261203T1200Z-boxcase1", renumbered(real, "20261203T1200Z-boxcase1"))
        to_box, to_followup = _conversation(helpdesk, case["case"], web)
        rate = two_workers(workers, certs["ca"], real)
        return {
            "report_to_ticket_s": round(statistics.median(to_ticket), 4),
            "staff_question_to_box_s": round(statistics.median(to_box), 4),
            "data_request_to_followup_s": round(statistics.median(to_followup), 4),
            "intake_reports_per_s": rate,
        }
    finally:
        for part in reversed(running):
            part.stop()


def _conversation(helpdesk, case: str, web: int) -> tuple[list[float], list[float]]:
    """Seconds from a staff question to the box's page (each answered there), and from a data request to the
    box's report on the ticket."""
    import requests

    ticket = int(case.rsplit("-", 1)[1])
    to_box, to_followup = [], []
    for i in range(5):
        text = f"Bench question {i}: is the RCD on?"
        t0 = time.perf_counter()
        staff = {"ticket": ticket, "comment": f"Question: {text}", "public": "true"}
        helpdesk.api("followups/", "POST", data=staff)
        q = peers.wait_for(lambda: _asked(web, text), 30, "the question on the box", 0.01)[0]
        to_box.append(time.perf_counter() - t0)
        r = requests.post(
            f"http://127.0.0.1:{web}/api/answer",
            json={"case": case, "question": q["id"], "text": "Yes, it is on."},
            headers={"X-Requested-With": "diag-agent"},
            timeout=30,
        )
        r.raise_for_status()
    for i in range(3):
        t0 = time.perf_counter()
        said = helpdesk.api(
            "followups/", "POST", data={"ticket": ticket, "comment": f"Data logs: bench {i}", "public": "true"}
        )
        peers.wait_for(lambda: _answered_data(helpdesk, ticket, said["id"]), 60, "the box's data", 0.02)
        to_followup.append(time.perf_counter() - t0)
    return to_box, to_followup


def _asked(web: int, text: str) -> list[dict]:
    import requests

    questions = requests.get(f"http://127.0.0.1:{web}/api/cases", timeout=5).json()["open_questions"]
    return [q for q in questions if q["text"] == text]


def _answered_data(helpdesk, ticket: int, followup_id: int) -> bool:
    """The box's report for the data request posted as follow-up FOLLOWUP_ID is on the ticket."""
    after = [f for f in helpdesk.api(f"tickets/{ticket}/")["followup_set"] if f["id"] > followup_id]
    return any("for support's data request" in f["comment"] and f["followupattachment_set"] for f in after)


def two_workers(workers: list, ca: str, real: bytes, count: int = 100, clients: int = 8) -> float:
    bodies = {f"20261203T1300{i:03d}Z-rate{i:04d}": b"" for i in range(count)}
    for rid in bodies:
        bodies[rid] = renumbered(real, rid)
    jobs = list(bodies.items())
    urls = [w.info["url"] for w in workers]

    def client(k: int) -> None:
        for n, (rid, body) in enumerate(jobs[k::clients]):
            upload(urls[(k + n) % len(urls)], ca, rid, body)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return round(count / (time.perf_counter() - t0), 2)
