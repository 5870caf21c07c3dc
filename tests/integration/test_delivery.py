"""HTTPS delivery to the reference intake, and the intake's own contract (HTTPS and MQTT)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys

import pytest
import requests

from agent.config import BackendConfig
from agent.report.bundle import Section, write_bundle
from agent.transports.https import DeliveryError, content_digest, upload
from rigs import peers


def make_bundle(path, report_id, priority="low", on_site=False, subject="test"):
    manifest = {
        "report_id": report_id,
        "priority": priority,
        "on_site": on_site,
        "subject": subject,
        "device": {"serial": "TEST-0001"},
        "created": {"wall": 1_795_000_000},
    }
    with open(path, "wb") as f:
        write_bundle(f, manifest, [Section("readings.json", b"{}\n")])
    return path


def cases(intake, ca):
    url = intake.info["url"].replace("/reports", "/cases")
    return requests.get(url, verify=ca, timeout=5).json()["cases"]


def test_upload_returns_the_case_and_a_retry_opens_no_second_case(tmp_path, intake, certs):
    bundle = make_bundle(tmp_path / "r.tar.gz", "20261125T080000Z-aaaaaaaa", priority="medium")
    backend = BackendConfig(url=intake.info["url"], ca_file=certs["ca"])
    first = upload(backend, "20261125T080000Z-aaaaaaaa", bundle, "TEST-0001")
    again = upload(backend, "20261125T080000Z-aaaaaaaa", bundle, "TEST-0001")
    assert first.case == again.case and first.case.startswith("CASE-")
    assert first.priority == "medium"
    (case,) = cases(intake, certs["ca"])
    assert case["deliveries"] == 2


def test_a_certificate_that_does_not_verify_is_refused_clearly(tmp_path, intake, certs):
    bundle = make_bundle(tmp_path / "r.tar.gz", "20261125T080000Z-bbbbbbbb")
    backend = BackendConfig(url=intake.info["url"], ca_file=certs["wrong_ca"])
    with pytest.raises(DeliveryError, match="TLS certificate was not accepted") as err:
        upload(backend, "20261125T080000Z-bbbbbbbb", bundle, "TEST-0001")
    assert not err.value.final
    assert cases(intake, certs["ca"]) == []


def test_report_with_a_wrong_ca_stays_in_the_outbox_with_exit_3(tmp_path, intake, certs, make_config, cli):
    cfg = make_config(backend={"url": intake.info["url"], "ca_file": certs["wrong_ca"]})
    result = cli("report", "--config", cfg, *peers.report_argv("no charging"))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "not delivered yet: the backend's TLS certificate was not accepted" in result.stdout
    spooled = list((tmp_path / "state" / "outbox").glob("*.tar.gz"))
    assert len(spooled) == 1


@pytest.mark.parametrize(
    "tamper, status, message",
    [
        ("digest", 400, "Content-Digest does not match"),
        ("no-key", 400, "Idempotency-Key"),
        ("damaged", 422, "damaged bundle"),
        ("other-id", 422, "does not match the Idempotency-Key"),
    ],
)
def test_intake_refuses_what_does_not_verify(tmp_path, intake, certs, tamper, status, message):
    body = make_bundle(tmp_path / "r.tar.gz", "20261125T080000Z-cccccccc").read_bytes()
    headers = {"Idempotency-Key": "20261125T080000Z-cccccccc", "Content-Type": "application/gzip"}
    if tamper == "damaged":
        body = body[:-30]
    headers["Content-Digest"] = content_digest(body)
    if tamper == "digest":
        headers["Content-Digest"] = content_digest(body + b"x")
    if tamper == "no-key":
        del headers["Idempotency-Key"]
    if tamper == "other-id":
        headers["Idempotency-Key"] = "20261125T080000Z-dddddddd"
    resp = requests.post(intake.info["url"], data=body, headers=headers, verify=certs["ca"], timeout=10)
    assert resp.status_code == status
    assert message in resp.json()["error"]
    assert cases(intake, certs["ca"]) == []


def test_intake_list_orders_by_priority_with_service_targets(tmp_path, intake, certs):
    backend = BackendConfig(url=intake.info["url"], ca_file=certs["ca"])
    for i, (prio, on_site) in enumerate([("low", False), ("high", True), ("medium", False)]):
        rid = f"20261125T08000{i}Z-0000000{i}"
        upload(backend, rid, make_bundle(tmp_path / f"{i}.tar.gz", rid, prio, on_site, f"subject {prio}"), "T")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "list",
            "--store",
            str(tmp_path / "intake-run" / "intake"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = out.splitlines()[1:]
    assert [r.split()[2] for r in rows] == ["high", "medium", "low"]
    assert "Mon-Fri 08:00-16:00" in rows[0] and "within 1 working day" in rows[1] and "2-5 working days" in rows[2]


def test_intake_takes_reports_over_mqtt_and_keeps_one_case_per_report_id(tmp_path, broker, certs):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    intake = peers.start_intake(tmp_path / "intake-mqtt", certs["cert"], certs["key"], mqtt_port=broker.info["port"])
    try:
        replies: queue.Queue = queue.Queue()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-box", protocol=mqtt.MQTTv5)
        client.on_message = lambda c, u, msg: replies.put((msg.payload, msg.properties.CorrelationData))
        client.connect("127.0.0.1", broker.info["port"])
        client.loop_start()
        client.subscribe("diag-agent/TEST-0001/receipt/+", qos=1)
        rid = "20261125T080000Z-eeeeeeee"
        body = make_bundle(tmp_path / "r.tar.gz", rid, "high", True).read_bytes()
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"diag-agent/TEST-0001/receipt/{rid}"
        props.CorrelationData = b"corr-1"

        def send_until_answered():
            client.publish(f"diag-agent/TEST-0001/report/{rid}", body, qos=1, properties=props)
            try:
                return replies.get(timeout=1)
            except queue.Empty:
                return None  # the intake's subscription may not be in place yet

        payload, corr = peers.wait_for(send_until_answered, 20, "the intake's MQTT receipt")
        reply = json.loads(payload)
        assert corr == b"corr-1" and reply["priority"] == "high" and reply["case"].startswith("CASE-")
        again = upload(BackendConfig(url=intake.info["url"], ca_file=certs["ca"]), rid, tmp_path / "r.tar.gz", "T")
        assert again.case == reply["case"]
        client.loop_stop()
        client.disconnect()
    finally:
        intake.stop()
