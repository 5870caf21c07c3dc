"""Thousands of malformed cloud commands and HTTP requests at a running agent: it keeps running, accepts
none of them, and still sends a genuine report."""

from __future__ import annotations

import json
import random
import socket
import time
import uuid

import requests

from agent.channels.cloud import sign
from rigs import peers
from tests.integration.test_cloud import KEY, Cloud

N = 2000


def mutations(rng: random.Random, n: int):
    """Malformed commands: each is broken in at least one way the gate must catch."""
    valid = sign(KEY, {"id": uuid.uuid4().hex, "ts": time.time(), "type": "report", "args": {"subject": "x"}})
    text = json.dumps(valid)
    odd_values = [None, True, -1, 1e308, "", "x" * 5000, [], {}, [1, [2, [3]]], "\u0000", "../../etc/passwd"]
    for i in range(n):
        kind = i % 6
        if kind == 0:  # flipped bytes
            raw = bytearray(text.encode())
            for _ in range(rng.randint(1, 8)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            yield bytes(raw)
        elif kind == 1:  # cut short
            yield text.encode()[: rng.randrange(len(text))]
        elif kind == 2:  # a field replaced by something odd (the signature then fails, or the type check)
            cmd = dict(valid)
            cmd[rng.choice(list(cmd))] = rng.choice(odd_values)
            yield json.dumps(cmd).encode()
        elif kind == 3:  # well formed, signed with the wrong key
            yield json.dumps(sign("wrong-key", dict(valid, id=uuid.uuid4().hex))).encode()
        elif kind == 4:  # random bytes
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        else:  # deep nesting and junk JSON
            depth = rng.randrange(1, 200)
            yield (
                ("[" * depth + "]" * depth).encode()
                if rng.random() < 0.5
                else json.dumps({"id": rng.choice(odd_values), "args": rng.choice(odd_values)}).encode()
            )


def bad_http(rng: random.Random, base: str, port: int, n: int) -> dict:
    """Malformed requests to the local page; each would change something if the guards let it through."""
    good = {
        "subject": "Charging stops after a minute",
        "description": "It stops after one minute, every time.",
        "email": "owner@example.com",
    }
    counts: dict = {}
    session = requests.Session()
    for i in range(n):
        kind = i % 5
        if kind == 0:  # a valid form without the header a cross-site page cannot send
            r = session.post(f"{base}/api/report", json=good, timeout=10)
        elif kind == 1:  # the header, but a broken body
            body = (
                json.dumps(good)[: rng.randrange(1, 60)]
                if rng.random() < 0.5
                else bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            )
            r = session.post(
                f"{base}/api/report",
                data=body,
                timeout=10,
                headers={"Content-Type": "application/json", "X-Requested-With": "diag-agent"},
            )
        elif kind == 2:  # the header, a body with one field guaranteed wrong
            field = rng.choice(["subject", "description", "email", "on_site", "extra"])
            body = dict(good, **{field: rng.choice([None, 1, "", "x" * 600, [], {"a": 1}])})
            r = session.post(f"{base}/api/report", json=body, timeout=10, headers={"X-Requested-With": "diag-agent"})
        elif kind == 3:  # odd paths and methods
            method = rng.choice(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "POST"])
            path = rng.choice(
                [
                    "/api/reports/../../etc/passwd",
                    "/api/reports/%00",
                    "/" + "a" * 3000,
                    "/api/onsite?on=true",
                    "/api/reports/20261125T080000Z-zzzzzzzz/bundle",
                ]
            )
            r = session.request(method, base + path, timeout=10)
        else:  # raw garbage on the socket
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) + b"\r\n\r\n")
                try:
                    s.recv(1024)
                except OSError:
                    pass
            counts["raw"] = counts.get("raw", 0) + 1
            continue
        counts[r.status_code] = counts.get(r.status_code, 0) + 1
    return counts


def test_fuzzing_the_channels(tmp_path, make_config, intake, certs, broker, agent_process, cli):
    web_port = peers.free_port()
    path = make_config(
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        mqtt={"enabled": True, "port": broker.info["port"]},
        extra={"cloud": {"command_key": KEY}, "web": {"port": web_port}},
    )
    agent = agent_process(path)
    peers.wait_for(lambda: peers.port_open(web_port), 10, "the local page")

    def status():
        return json.loads(cli("status", "--json", "--config", path).stdout)

    peers.wait_for(lambda: status()["mqtt_connected"], 10, "the agent on the broker")
    cloud = Cloud(broker)
    rng = random.Random(7)
    try:
        sent = 0
        for payload in mutations(rng, N):
            cloud.raw(payload, qos=0)
            sent += 1
            if sent % 150 == 0:  # let the agent keep up, so the gate sees them rather than the flood guard

                def caught_up(n=sent):
                    c = status()["commands"]
                    return c["rejected"] + c["dropped"] >= n

                peers.wait_for(caught_up, 30, "the agent to work through the commands", interval=0.2)
        http = bad_http(rng, f"http://127.0.0.1:{web_port}", web_port, N)
        assert agent.alive()
        assert sum(v for k, v in http.items() if isinstance(k, int) and k < 400) == 0, http
        # Nothing got through: no report, no on-site mode, no case.
        s = status()
        assert s["outbox"] == {"accepted": 0, "sending": 0, "refused": 0, "delivered": 0, "evicted": 0, "damaged": 0}
        assert not s["onsite"]["on"]
        assert not peers.intake_cases(tmp_path / "intake-run" / "intake")
        # And the genuine article still works, by both channels.
        cmd = cloud.send("report", {"subject": "genuine after the storm"})
        reply = peers.wait_for(lambda: _reply(cloud, cmd["id"]), 60, "the genuine command's reply")
        assert reply["status"] == "accepted"
        r = requests.post(
            f"http://127.0.0.1:{web_port}/api/report",
            timeout=30,
            json={
                "subject": "Genuine from the page after fuzzing",
                "description": "A real person sends a real report.",
                "email": "a@example.com",
            },
            headers={"X-Requested-With": "diag-agent"},
        )
        assert r.status_code == 202
        peers.wait_for(
            lambda: len(peers.intake_cases(tmp_path / "intake-run" / "intake")) == 2,
            30,
            "two genuine cases",
        )
        commands = status()["commands"]
        print(
            "fuzz:",
            json.dumps(
                {
                    "mqtt_sent": N,
                    "http_sent": N,
                    "http_status": {str(k): v for k, v in http.items()},
                    "commands": commands,
                }
            ),
        )
        assert commands["accepted"] == 1 and commands["rejected"] + commands["dropped"] >= N
        assert commands["rejected"] >= 0.9 * N  # most went through the gate, not just the flood guard
        assert "Traceback" not in agent.log.read_text()
    finally:
        cloud.close()


def _reply(cloud, cmd_id):
    try:
        while True:
            reply = cloud.replies.get(timeout=0.5)
            if reply.get("id") == cmd_id:
                return reply
    except Exception:
        return None
