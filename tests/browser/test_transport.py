"""Delivery that loses nothing: backend outages, refusals, quotas, MQTT with limits, TLS and passwords."""

from __future__ import annotations

import json
import subprocess

import pytest

from rigs import peers


def status(cli, cfg):
    return json.loads(cli("status", "--json", "--config", cfg).stdout)


# --- MQTT --------------------------------------------------------------------------------------


def status_of(cli, cfg) -> dict:
    return json.loads(cli("status", "--json", "--config", cfg).stdout)


@pytest.mark.parametrize("protocol", ["auto", "3.1.1"])
def test_refused_credentials_are_not_authorized_and_never_a_reason_to_change_protocol(
    tmp_path, make_config, agent_process, cli, protocol, browser
):
    passwords = tmp_path / "passwd"
    passwords.write_text("box:right-password\n")
    subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
    broker = peers.start_mosquitto(tmp_path / "broker", f"allow_anonymous false\npassword_file {passwords}\n")
    try:
        mqtt = {
            "enabled": True,
            "port": broker.info["port"],
            "protocol": protocol,
            "username": "box",
            "password": "wrong-password",
        }
        cfg = make_config(mqtt=mqtt)
        agent = agent_process(cfg)
        status = peers.wait_for(
            lambda: (s := status_of(cli, cfg))["mqtt"]["last_failure"] and s, 30, "the broker's refusal"
        )
        assert status["mqtt"]["last_failure"].startswith("not authorized")
        assert status["mqtt"]["not_authorized"] is True
        assert status["mqtt"]["protocol"] == ("5" if protocol == "auto" else "3.1.1")
        check = json.loads(cli("check", "--json", "--config", cfg).stdout)
        (broker_check,) = [c for c in check["checks"] if c["id"] == "broker"]
        assert broker_check["status"] == "fail" and "mqtt.password" in broker_check["hint"]
        human = cli("status", "--config", cfg).stdout
        assert "not authorized" in human
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{json.loads(cfg.read_text())['web']['port']}/?lang=de")
        peers.wait_for(lambda: "mqtt.password" in (page.text_content("#cloud") or ""), 10, "the page's cloud line")
        assert page.text_content("#cloud").startswith("abgelehnt")  # in the reader's language
        log = agent.log.read_text()
        assert "not authorized" in log and "trying MQTT 3.1.1" not in log
        assert "wrong-password" not in log + human + json.dumps(check)
        agent.stop()
        # Fixed: the next start speaks MQTT 5 with this broker (nothing remembered a fallback).
        cfg = make_config(mqtt=dict(mqtt, password="right-password"))
        agent_process(cfg)
        fixed = peers.wait_for(lambda: (s := status_of(cli, cfg))["mqtt_connected"] and s, 30, "connected")
        assert fixed["mqtt"]["protocol"] == ("5" if protocol == "auto" else "3.1.1")
        assert fixed["mqtt"]["last_failure"] is None
    finally:
        broker.stop()
