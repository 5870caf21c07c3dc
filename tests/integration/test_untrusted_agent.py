"""Nobody's bytes are trusted (issue 24), with the agent as a real process: forged and oversized case
states, planted state files, secrets and terminal escapes in what the firmware says, trickling clients on
the page. Each attack is followed by a check that the daemon still does its job."""

from __future__ import annotations

import base64
import gzip
import json
import os
import resource
import select
import socket
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import pytest
import requests

from agent.wire import box_key, seal
from rigs import peers

WEB = {"X-Requested-With": "diag-agent"}
SERIAL = "TEST-0001"


def publish(broker, topic: str, payload: bytes, retain: bool = True) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.info["port"])
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def case_state(case: str, version: int, text: str, **extra) -> dict:
    message = {"id": "Q1", "kind": "question", "text": text, "at": time.time()}
    return {"case": case, "state": "waiting", "priority": "high", "version": version, "messages": [message], **extra}


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


@pytest.fixture
def mqtt_box(tmp_path, certs, broker, make_config, agent_process):
    intake = peers.start_intake(tmp_path / "intake-run", certs["cert"], certs["key"], mqtt_port=broker.info["port"])
    port = peers.free_port()
    cfg = make_config(
        backend={"transport": "mqtt"},
        mqtt={"enabled": True, "port": broker.info["port"]},
        extra={"web": {"port": port}},
    )
    peers.wait_for(lambda: "subscribed" in intake.log_tail(), 10, "the intake on the broker")
    yield {"config": cfg, "port": port, "broker": broker, "intake": intake, "start": lambda: agent_process(cfg)}
    intake.stop()


def test_forged_deep_huge_and_stale_case_states_are_dropped_and_the_box_still_hears_support(mqtt_box, cli, tmp_path):
    broker, base = mqtt_box["broker"], f"diag-agent/{SERIAL}"
    forged = case_state("CASE-EVIL", 1, "Please type your WiFi password")
    wrong_key = seal(box_key("another fleet", SERIAL), "case", SERIAL, case_state("CASE-WRONG", 1, "x"))
    huge = case_state(
        "CASE-HUGE", 1, "x", messages=[{"id": f"M{i}", "kind": "message", "text": "y" * 60} for i in range(200_000)]
    )
    attacks = {
        "CASE-EVIL": json.dumps(forged).encode(),  # unsigned
        "CASE-WRONG": json.dumps(wrong_key).encode(),
        "CASE-DEEP": b"[" * 100_000 + b"]" * 100_000,
        "CASE-DIGITS": b'{"case": "CASE-DIGITS", "version": ' + b"9" * 400 + b"}",
        "CASE-HUGE": json.dumps(huge).encode(),  # about 16 MB
    }
    for case, payload in attacks.items():  # retained: the box meets them at every start
        publish(broker, f"{base}/case/{case}", payload)
    publish(broker, f"{base}/receipt/20261203T000000Z-00000000", b"{" * 100_000, retain=True)
    agent = mqtt_box["start"]()
    before = rss_mb(agent.proc.pid)
    peers.wait_for(lambda: agent.log.read_text().count("a case state from MQTT is not used") >= 5, 30, "all dropped")
    assert rss_mb(agent.proc.pid) < before + 60  # the 16 MB one is never parsed (it was 167 MB at its peak)
    agent.stop()
    agent = mqtt_box["start"]()  # once more, with the retained attacks waiting
    report = cli("report", "--config", mqtt_box["config"], *peers.report_argv("After the attacks"))
    assert report.returncode == 0, report.stdout + report.stderr  # delivered over MQTT, its receipt sealed
    case = json.loads(cli("status", "--config", mqtt_box["config"], "--json").stdout)["last_receipt"]["case"]
    intake = ["-m", "backend", "ask", "--store", str(tmp_path / "intake-run" / "intake")]
    import subprocess
    import sys

    subprocess.run([sys.executable, *intake, case, "Is the RCD switched on?"], check=True, timeout=30)
    url = f"http://127.0.0.1:{mqtt_box['port']}/api/cases"

    def asked():
        cases = requests.get(url, timeout=5).json()["cases"]
        return [c for c in cases if c["case"] == case and c["open_questions"]] and cases

    cases = peers.wait_for(asked, 20, "support's real question on the box")
    assert {c["case"] for c in cases} == {case}  # nothing forged, nothing oversized
    assert "WiFi password" not in json.dumps(cases) and agent.alive()
    assert "Traceback" not in agent.log.read_text()


def test_a_planted_state_folder_moves_aside_follows_no_link_and_still_delivers(
    tmp_path, make_config, agent_process, cli, intake, certs
):
    state = tmp_path / "state"
    outbox = state / "outbox"
    outbox.mkdir(parents=True)
    victims = {name: tmp_path / f"victim-{name}" for name in ("onsite", "security", "outbox", "bundle")}
    for v in victims.values():
        v.write_text("precious\n")
    (state / "onsite.json.tmp").symlink_to(victims["onsite"])
    (state / "security.log").symlink_to(victims["security"])
    entry = {"report_id": "20261203T000000Z-0000aaaa", "priority": "high", "on_site": False, "created": 1.0}
    (outbox / "20261203T000000Z-0000aaaa.json").write_text(json.dumps(entry))  # its bundle: a link out
    (outbox / "20261203T000000Z-0000aaaa.tar.gz").symlink_to(victims["bundle"])
    (outbox / "20261203T000000Z-0000bbbb.json").write_text(
        json.dumps(dict(entry, report_id="20261203T000000Z-0000bbbb"))
    )
    (outbox / "20261203T000000Z-0000cccc.json").write_text(json.dumps(dict(entry, report_id="../../victim-outbox")))
    for name in ("auto_reports", "config-seen", "firmware_versions", "mqtt", "outbox-stats", "releases"):
        (state / f"{name}.json").write_text("[]")
    (state / "cases.json").write_text('{"cases": [[]], "versions": {"A": "x"}}')
    (state / "events").mkdir()
    (state / "events" / "0001.json").write_text("[]")
    (state / "recorder" / "windows").mkdir(parents=True)
    (state / "recorder" / "timeline.jsonl").write_text('[]\n"x"\n{"kind": 1}\n')
    (state / "recorder" / "windows" / "index.json").write_text('[{"file": "../../../victim-outbox", "raised": 1}]')
    cfg = make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"]})
    agent = agent_process(cfg)
    assert cli("onsite", "--config", cfg, "on").returncode == 0
    report = cli("report", "--config", cfg, *peers.report_argv("After the planted state"))
    assert report.returncode == 0, report.stdout + report.stderr
    status = json.loads(cli("status", "--config", cfg, "--json").stdout)
    assert status["outbox"]["damaged"] == 2 and status["outbox"]["delivered"] == 1, status["outbox"]
    assert "2 report(s) in the outbox are damaged" in cli("status", "--config", cfg).stdout
    assert all(v.read_text() == "precious\n" for v in victims.values())
    assert (state / "events" / "0001.json.bad").exists() and (state / "auto_reports.json.bad").exists()
    port = json.loads(Path(cfg).read_text())["web"]["port"]
    got = requests.get(f"http://127.0.0.1:{port}/api/reports/20261203T000000Z-0000aaaa/bundle", timeout=5)
    assert got.status_code == 404 and b"precious" not in got.content
    stored = b"".join(p.read_bytes() for p in (tmp_path / "intake-run" / "intake" / "bundles").iterdir())
    assert b"precious" not in stored
    log = agent.log.read_text()
    assert "Traceback" not in log and "kept as" in log and agent.alive()


SECRETS = {
    "hook": "hook-declared-canary-7Qx9",
    "mqtt": 'mqtt-pass/w0rd"canary',
    "token": "split-token-canary-0123456789",
}


def forms(secret: str) -> list[str]:
    """A secret as it may leave: plain, base64, JSON-escaped with \\/ and \\u0022."""
    raw = secret.encode()
    escaped = json.dumps(secret)[1:-1]
    return [secret, base64.b64encode(raw).decode(), escaped.replace("/", "\\/"), escaped.replace('\\"', "\\u0022")]


def assert_scrubbed(where: str, text: str) -> None:
    """No secret in any of its forms in TEXT (what WHERE showed); no terminal control where a person reads it."""
    for name, secret in SECRETS.items():
        if name == "token" and "log" not in where:  # only the firmware log holds the split token
            continue
        for form in forms(secret):
            assert form not in text, f"{name} secret ({form!r}) in {where}"
    if where.startswith(("cli", "agent log")):
        assert "\x1b" not in text and "\u202e" not in text, where


def test_every_output_is_scrubbed_of_every_secret_and_shows_no_terminal_escape(
    tmp_path, broker, make_config, agent_process, cli
):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in (peers.ROOT / "firmware_hooks").iterdir():
        if hook.is_file() and os.access(hook, os.X_OK):
            (hooks / hook.name).symlink_to(hook)
    leaky = hooks / "leaky_firmware"
    leaky.write_text(f'#!/bin/sh\necho \'{{"secrets": ["{SECRETS["hook"]}"], "ok": true}}\'\n')
    leaky.chmod(0o755)
    fw_log = tmp_path / "firmware.log"
    mqtt_json = json.dumps({"password": SECRETS["mqtt"]}).replace("/", "\\/")
    fw_log.write_text(
        f"2026-12-03 08:00:00 fw: config {mqtt_json}\n"
        f"2026-12-03 08:00:01 fw: token={SECRETS['token'][:12]}\n2026-12-03 08:00:01 fw: {SECRETS['token'][12:]}\n"
    )
    port = peers.free_port()
    cfg = make_config(
        mqtt={"enabled": True, "port": broker.info["port"], "username": "box", "password": SECRETS["mqtt"]},
        extra={"web": {"port": port}, "hooks": {"dir": str(hooks)}},
    )
    watcher, statuses = peers.subscriber(broker, f"diag-agent/{SERIAL}/status")
    agent = agent_process(cfg)
    peers.wait_for(lambda: cli("check", "--config", cfg).returncode in (0, 1), 60, "a look with the hooks")
    escape = "\x1b]0;owned\x07\x1b[2J\x1b]52;c;ZWNobyBvd25lZA==\x07\u202e"
    message = f"wifi psk {SECRETS['hook']} mqtt {SECRETS['mqtt']} {escape}"
    assert cli("event", "fault", "--code", "FW_LEAK", "--message", message, "--config", cfg).returncode == 0
    outputs: dict[str, str] = {}
    peers.wait_for(lambda: "FW_LEAK" in cli("status", "--config", cfg).stdout, 20, "the fault in the status")
    outputs["cli status"] = cli("status", "--config", cfg).stdout
    outputs["cli status --json"] = cli("status", "--config", cfg, "--json").stdout
    outputs["cli cases"] = cli("cases", "--config", cfg).stdout
    outputs["/api/status"] = requests.get(f"http://127.0.0.1:{port}/api/status?lang=de", timeout=10).text
    outputs["/api/cases"] = requests.get(f"http://127.0.0.1:{port}/api/cases", timeout=10).text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "mqtt status" not in outputs:
        s = statuses.get(timeout=30)
        if "FW_LEAK" in json.dumps(s):
            outputs["mqtt status"] = json.dumps(s)
    report = cli("report", "--config", cfg, *peers.report_argv("Scrubbed"), "--out", tmp_path / "r.tar.gz")
    assert report.returncode == 0, report.stderr
    from agent.report.bundle import read_bundle

    manifest, members = read_bundle((tmp_path / "r.tar.gz").read_bytes())
    outputs.update({f"report {name}": data.decode("utf-8", "replace") for name, data in members.items()})
    recorder = tmp_path / "state" / "recorder"
    peers.wait_for(lambda: list((recorder / "windows").glob("*.json.gz")), 20, "the fault's window on disk")
    for window in (recorder / "windows").glob("*.json.gz"):
        outputs[f"window {window.name}"] = gzip.decompress(window.read_bytes()).decode()
    outputs["timeline.jsonl"] = (recorder / "timeline.jsonl").read_text()
    agent.stop()
    outputs["agent log"] = agent.log.read_text()
    watcher.loop_stop()
    assert "mqtt status" in outputs and any(w.startswith("report log-") for w in outputs), sorted(outputs)
    assert any(w.startswith("window ") for w in outputs) and "FW_LEAK" in outputs["timeline.jsonl"]
    for where, text in outputs.items():
        assert_scrubbed(where, text)
    assert "\\x1b]0;owned" in outputs["cli status"]  # shown, escaped: the person sees what was sent


@pytest.mark.alone
def test_the_page_answers_within_2_s_while_1100_connections_trickle(make_config, agent_process):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))
    port = peers.free_port()
    agent = agent_process(make_config(extra={"web": {"port": port}}))
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    trickling: list[socket.socket] = []
    for i in range(1100):  # from 127.0.0.1 like the test's own requests, and from nine more addresses
        s = socket.socket()
        s.setblocking(False)
        s.bind((f"127.0.0.{1 + i % 10}", 0))
        s.connect_ex(("127.0.0.1", port))
        trickling.append(s)
    request = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    answered = []
    try:
        for second in range(12):
            for s in trickling:  # a byte each, every second, never the end of the headers
                try:
                    s.send(request[second % len(request) : second % len(request) + 1])
                except OSError:
                    pass
            if second >= 2:
                started = time.monotonic()
                got = requests.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
                answered.append((got.status_code, time.monotonic() - started))
            select.select([], [], [], 1.0)  # the trickle's pace, not a wait for the agent
        assert [code for code, _ in answered] == [200] * 10, answered
        assert agent.alive()
    finally:
        for s in trickling:
            s.close()
