"""Cloud commands over MQTT: signed ones are carried out and answered; everything else is rejected, and why."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

import pytest

from agent.channels.cloud import sign
from rigs import peers

KEY = "device-key-CANARY-5577"


class Cloud:
    """Remote support's side: publishes commands to a box and reads its replies."""

    def __init__(self, broker, serial="TEST-0001"):
        import paho.mqtt.client as mqtt

        self.base = f"diag-agent/{serial}"
        self.replies: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.replies.put(json.loads(m.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", broker.info["port"])
        self.client.subscribe(f"{self.base}/reply", qos=1)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK from the broker"

    def raw(self, payload: bytes | str, qos: int = 1, claimed_id: str | None = None) -> dict:
        self.client.publish(f"{self.base}/command", payload, qos=qos)
        return {"id": claimed_id}

    def send(
        self, kind: str, args: dict | None = None, key: str = KEY, ts: float | None = None, nonce: str | None = None
    ) -> dict:
        cmd = sign(
            key,
            {
                "id": nonce or uuid.uuid4().hex,
                "ts": time.time() if ts is None else ts,
                "type": kind,
                "args": args or {},
            },
        )
        self.raw(json.dumps(cmd))
        return cmd

    def reply_to(self, cmd_id: str | None, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            reply = self.replies.get(timeout=max(0.01, deadline - time.monotonic()))
            if reply.get("id") == cmd_id:
                return reply

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def cloud_rig(tmp_path, make_config, intake, certs, broker, agent_process, cli):
    path = make_config(
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        mqtt={"enabled": True, "port": broker.info["port"]},
        extra={"cloud": {"command_key": KEY}},
    )
    agent = agent_process(path)
    peers.wait_for(
        lambda: json.loads(cli("status", "--json", "--config", path).stdout)["mqtt_connected"],
        10,
        "the agent on the broker",
    )
    cloud = Cloud(broker)
    yield {"cloud": cloud, "config": path, "agent": agent}
    cloud.close()


def cases(tmp_path):
    return peers.intake_cases(tmp_path / "intake-run" / "intake")


def test_a_signed_report_command_ends_in_a_case(tmp_path, cloud_rig):
    cloud = cloud_rig["cloud"]
    cmd = cloud.send("report", {"subject": "Remote check of the box", "description": "support asked for a report"})
    reply = cloud.reply_to(cmd["id"])
    assert reply["status"] == "accepted" and reply["result"]["report_id"]
    peers.wait_for(lambda: cases(tmp_path), 20, "a case")
    (case,) = cases(tmp_path)
    assert case["report_id"] == reply["result"]["report_id"] and case["subject"] == "Remote check of the box"


def test_more_data_attaches_to_the_case_and_on_site_and_ping_work(tmp_path, cloud_rig, cli):
    cloud = cloud_rig["cloud"]
    ping = cloud.reply_to(cloud.send("ping")["id"])
    assert ping["status"] == "accepted" and "pong" in ping["result"]
    on = cloud.reply_to(cloud.send("onsite", {"on": True})["id"])
    assert on["result"]["onsite"]["on"] and on["result"]["onsite"]["channel"] == "cloud"
    more = cloud.reply_to(cloud.send("more_data", {"case_ref": "CASE-000042", "sections": ["logs", "history"]})["id"])
    assert more["status"] == "accepted"
    peers.wait_for(lambda: cases(tmp_path), 20, "a case")
    (case,) = cases(tmp_path)
    assert case["case_ref"] == "CASE-000042" and case["priority"] == "high"  # on-site: high
    bundle = tmp_path / "intake-run/intake/bundles" / f"{case['sha256']}.tar.gz"
    from agent.report.bundle import read_bundle

    manifest, members = read_bundle(bundle.read_bytes())
    assert manifest["trigger"] == "cloud-follow-up" and "history.json.xz" in members and "system.json" not in members


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda c: c.send("ping", key="not-the-key"), "bad signature"),
        (lambda c: c.send("ping", ts=time.time() - 3600), "timestamp more than 300 s"),
        (lambda c: c.send("reboot"), "type: expected one of"),
        (lambda c: c.send("report", {"exec": "/bin/sh"}), "unknown args: exec"),
        (lambda c: c.send("report", {"sections": ["/etc/shadow"]}), "args.sections"),
        (lambda c: c.send("more_data", {}), "args.case_ref is required"),
        (
            lambda c: c.raw(
                json.dumps({"id": "abcdefgh12", "ts": time.time(), "type": "ping", "args": {}}), claimed_id="abcdefgh12"
            ),
            "exactly the fields",
        ),
        (
            lambda c: c.raw(
                json.dumps(
                    {"id": "abcdefgh13", "ts": 1, "type": "ping", "args": {}, "sig": "x" * 64, "pad": "x" * 9000}
                ),
                claimed_id="abcdefgh13",
            ),
            "larger than 8192 bytes",
        ),
        (lambda c: c.raw(b"\xff\xfe not json"), "not valid JSON"),
    ],
)
def test_bad_commands_are_rejected_and_say_why(cloud_rig, make, reason):
    cloud = cloud_rig["cloud"]
    reply = cloud.reply_to(make(cloud)["id"])
    assert reply["status"] == "rejected" and reason in reply["reason"]


def test_a_replayed_command_is_rejected_even_after_a_restart(cloud_rig, agent_process, cli, broker):
    cloud = cloud_rig["cloud"]
    cmd = cloud.send("ping")
    assert cloud.reply_to(cmd["id"])["status"] == "accepted"
    cloud.raw(json.dumps(cmd))
    assert "replayed" in cloud.reply_to(cmd["id"])["reason"]
    cloud_rig["agent"].stop()
    agent_process(cloud_rig["config"])
    peers.wait_for(
        lambda: json.loads(cli("status", "--json", "--config", cloud_rig["config"]).stdout)["mqtt_connected"],
        10,
        "the agent back on the broker",
    )
    cloud.raw(json.dumps(cmd))
    assert "replayed" in cloud.reply_to(cmd["id"])["reason"]
    assert "CANARY" not in cloud_rig["agent"].log.read_text()
