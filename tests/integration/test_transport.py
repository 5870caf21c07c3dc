"""Delivery that loses nothing: backend outages, refusals, quotas, MQTT with limits, TLS and passwords."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from agent import config
from agent.outbox import Entry, Outbox
from agent.report.bundle import Section, write_bundle
from agent.transports.sender import Sender, fingerprint
from rigs import peers


def https_sender(cfg, outbox, **kw):
    """The daemon's sender with the HTTPS transport only."""
    from agent.transports.https import HttpsTransport

    return Sender(cfg.backend, outbox, [HttpsTransport(cfg.backend, cfg.device.identity)], fingerprint(cfg), **kw)


def status(cli, cfg):
    return json.loads(cli("status", "--json", "--config", cfg).stdout)


def waiting(status_or_outbox: dict) -> int:
    """Reports on the box that will still go out by themselves: accepted or sending."""
    outbox = status_or_outbox.get("outbox", status_or_outbox)
    return outbox["accepted"] + outbox["sending"]


def intake_cases(tmp_path, name):
    return peers.intake_cases(tmp_path / name / "intake")


def fast_retries(**extra):
    return {"retry_base_s": 0.2, "retry_max_s": 1.0, "timeout_s": 5.0, **extra}


@pytest.mark.alone
def test_backend_down_then_up_delivers_everything_in_priority_order(tmp_path, make_config, cli, agent_process, certs):
    port = peers.free_port()
    url = f"https://127.0.0.1:{port}/api/v1/reports"
    cfg = make_config(
        backend={"url": url, "ca_file": certs["ca"], **fast_retries()}, extra={"report": {"wait_for_case_s": 1}}
    )
    agent_process(cfg)
    low = cli("report", "--config", cfg, *peers.report_argv("low priority one"))
    assert low.returncode == 3 and "not delivered yet" in low.stdout and "Connection refused" in low.stdout
    assert (
        cli("event", "fault", "--code", "CONTACTOR", "--message", "contactor welded", "--config", cfg).returncode == 0
    )
    medium = cli("report", "--config", cfg, *peers.report_argv("medium priority one"))
    high = cli("report", "--config", cfg, *peers.report_argv("high priority one"), "--on-site")
    assert medium.returncode == high.returncode == 3
    assert waiting(status(cli, cfg)) == 3

    intake = peers.start_intake(tmp_path / "late", certs["cert"], certs["key"], extra=["--port", str(port)])
    try:
        peers.wait_for(lambda: len(intake_cases(tmp_path, "late")) == 3, 30, "three cases")
        subjects = [c["subject"] for c in intake_cases(tmp_path, "late")]
        assert subjects == ["high priority one", "medium priority one", "low priority one"]
        assert [c["priority"] for c in intake_cases(tmp_path, "late")] == ["high", "medium", "low"]
        peers.wait_for(lambda: status(cli, cfg)["outbox"]["delivered"] == 3, 10, "receipts stored")
    finally:
        intake.stop()


def one_report(tmp_path, cfg_path, subject="x", priority="low"):
    """An outbox with one spooled report, and a Sender for it (no daemon)."""
    cfg = config.load(cfg_path)
    box = Outbox(tmp_path / "outbox")
    rid = f"20261125T0800{len(list(box.folder.glob('*.json'))):02d}Z-0000abcd"
    entry = Entry(rid, priority, False, time.time())
    manifest = {"report_id": rid, "priority": priority, "subject": subject, "created": {"wall": 1.79e9}}
    box.spool(entry, lambda f: write_bundle(f, manifest, [Section("readings.json", b"{}\n")]))
    return cfg, box, box.load(rid)


@pytest.mark.parametrize("retry_after", ["3", "http-date"])
def test_429_with_retry_after_is_honoured(tmp_path, make_config, certs, retry_after):
    if retry_after == "http-date":
        retry_after = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 4))
    intake = peers.start_intake(
        tmp_path / "busy",
        certs["cert"],
        certs["key"],
        extra=["--refuse", "1", "--refuse-status", "429", "--retry-after", retry_after],
    )
    try:
        cfg, box, entry = one_report(
            tmp_path, make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"], **fast_retries()})
        )
        sender = https_sender(cfg, box, rng=lambda: 0.0)  # no jitter: what remains is Retry-After
        before = time.time()
        entry = sender.attempt(entry)
        assert not entry.delivered and not entry.parked and "HTTP 429" in entry.last_error
        assert entry.next_attempt - before >= 2.5
        assert sender.drain() == 0  # not due yet: nothing is sent
        assert sender.attempt(entry).delivered
    finally:
        intake.stop()


def test_a_4xx_parks_the_report_until_the_delivery_settings_change(tmp_path, make_config, certs, cli, agent_process):
    intake = peers.start_intake(
        tmp_path / "strict", certs["cert"], certs["key"], extra=["--refuse", "1", "--refuse-status", "403"]
    )
    try:
        cfg = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"], **fast_retries()},
            extra={"report": {"wait_for_case_s": 5}},
        )
        agent = agent_process(cfg)
        result = cli("report", "--config", cfg, *peers.report_argv("refused"))
        assert result.returncode == 3 and "HTTP 403" in result.stdout
        assert status(cli, cfg)["outbox"] == {
            "accepted": 0,
            "sending": 0,
            "refused": 1,
            "delivered": 0,
            "evicted": 0,
            "damaged": 0,
        }
        agent.stop()
        agent_process(cfg)  # the same settings: still parked
        assert status(cli, cfg)["outbox"]["refused"] == 1
        text = cfg.read_text().replace('"timeout_s": 5.0', '"timeout_s": 6.0')
        cfg.write_text(text)
        agent_process.stop_all()
        agent_process(cfg)
        peers.wait_for(lambda: status(cli, cfg)["outbox"]["delivered"] == 1, 20, "the unparked report delivered")
    finally:
        intake.stop()


def test_mutual_tls_with_the_box_certificate(tmp_path, make_config, certs):
    import trustme

    box_ca = trustme.CA()
    box = box_ca.issue_cert("box-TEST-0001")
    paths = {n: str(tmp_path / f"{n}.pem") for n in ("box_ca", "box_cert", "box_key")}
    box_ca.cert_pem.write_to_path(paths["box_ca"])
    box.cert_chain_pems[0].write_to_path(paths["box_cert"])
    box.private_key_pem.write_to_path(paths["box_key"])
    intake = peers.start_intake(tmp_path / "mtls", certs["cert"], certs["key"], extra=["--client-ca", paths["box_ca"]])
    try:
        backend = {"url": intake.info["url"], "ca_file": certs["ca"], **fast_retries()}
        cfg, box_outbox, entry = one_report(tmp_path, make_config(backend=backend))
        refused = https_sender(cfg, box_outbox).attempt(entry)
        assert not refused.delivered and "check backend.client_cert" in refused.last_error
        cfg, box_outbox, entry = one_report(
            tmp_path, make_config(backend=dict(backend, client_cert=paths["box_cert"], client_key=paths["box_key"]))
        )
        assert https_sender(cfg, box_outbox).attempt(entry).delivered
    finally:
        intake.stop()


def test_a_5xx_is_retried(tmp_path, make_config, certs):
    intake = peers.start_intake(
        tmp_path / "flaky", certs["cert"], certs["key"], extra=["--refuse", "2", "--refuse-status", "503"]
    )
    try:
        cfg, box, entry = one_report(
            tmp_path, make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"], **fast_retries()})
        )
        sender = https_sender(cfg, box, rng=lambda: 0.0)
        assert "HTTP 503" in sender.attempt(entry).last_error
        assert not sender.attempt(entry).delivered
        assert sender.attempt(entry).delivered and entry.attempts == 3
    finally:
        intake.stop()


def test_a_full_disk_refuses_the_report_clearly_and_keeps_the_rest(tmp_path, make_config, cli, agent_process):
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(state)], check=True)
    try:
        cfg = make_config(extra={"report": {"wait_for_case_s": 0}})
        agent_process(cfg)
        first = cli("report", "--config", cfg, *peers.report_argv("fits"))
        assert first.returncode == 3
        vfs = os.statvfs(state)
        (state / "filler").write_bytes(b"\0" * (vfs.f_bavail * vfs.f_frsize - 4096))  # a disk nearly full
        full = cli("report", "--config", cfg, *peers.report_argv("does not fit"))
        assert full.returncode == 1 and "Traceback" not in full.stderr
        assert "could not be stored" in full.stderr and "No space left on device" in full.stderr
        outbox = state / "outbox"
        assert not [p for p in outbox.iterdir() if p.name.endswith(".tmp")]
        assert len(list(outbox.glob("*.json"))) == len(list(outbox.glob("*.tar.gz"))) == 1
        kept = status(cli, cfg)["outbox"]  # still running, the first report kept (parked: no backend set)
        assert waiting(kept) + kept["refused"] == 1
    finally:
        agent_process.stop_all()
        subprocess.run(["umount", "-l", str(state)])


# --- MQTT --------------------------------------------------------------------------------------


def test_reports_go_by_mqtt_and_too_large_ones_by_https_with_a_notice(tmp_path, certs, make_config, cli, agent_process):
    broker = peers.start_mosquitto(tmp_path / "small-broker", "max_packet_size 20000\n")
    intake = peers.start_intake(tmp_path / "both", certs["cert"], certs["key"], mqtt_port=broker.info["port"])
    watcher, got = peers.subscriber(broker, "diag-agent/TEST-0001/notice")
    try:
        peers.wait_for(lambda: "subscribed" in intake.log_tail(), 10, "the intake on the broker")
        long_tails = {
            "dir": str(peers.ROOT / "firmware_hooks"),
            "env": {"LOG_TAIL_LINES": "100000", "LOG_TAIL_BYTES": "400000"},
        }
        small = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"], "transport": "mqtt", **fast_retries()},
            mqtt={"enabled": True, "port": broker.info["port"]},
            extra={"hooks": long_tails},
        )
        agent_process(small)
        peers.wait_for(lambda: status(cli, small)["mqtt_connected"], 10, "the agent on the broker")
        result = cli("report", "--config", small, *peers.report_argv("a report by mqtt"))
        assert result.returncode == 0, result.stdout + result.stderr
        case = [c for c in intake_cases(tmp_path, "both") if c["subject"] == "a report by mqtt"][0]
        assert case["transport"] == "mqtt"
        # A report over the broker's 20000-byte packet limit: by HTTPS, with an MQTT notice.
        (tmp_path / "firmware.log").write_text(
            "".join(f"line {i} {i * 7919 % 10007:x}{i * 31 % 997}\n" for i in range(40000))
        )
        big = cli("report", "--config", small, *peers.report_argv("too big for mqtt"))
        assert big.returncode == 0, big.stdout + big.stderr
        case = [c for c in intake_cases(tmp_path, "both") if c["subject"] == "too big for mqtt"][0]
        assert case["transport"] == "https"

        def delivered_notice():
            while True:
                n = got.get(timeout=5)
                if n["event"] == "delivered" and n["case"] == case["case"]:
                    return n

        assert delivered_notice()["via"] == "https"
    finally:
        watcher.loop_stop()
        intake.stop()
        broker.stop()


def test_mqtt_3_1_1_carries_reports_and_receipts_too(tmp_path, certs, make_config, cli, agent_process, broker):
    intake = peers.start_intake(tmp_path / "v3", certs["cert"], certs["key"], mqtt_port=broker.info["port"])
    try:
        peers.wait_for(lambda: "subscribed" in intake.log_tail(), 10, "the intake on the broker")
        cfg = make_config(
            backend={"transport": "mqtt", **fast_retries()},
            mqtt={"enabled": True, "port": broker.info["port"], "protocol": "3.1.1"},
        )
        agent = agent_process(cfg)
        peers.wait_for(lambda: status(cli, cfg)["mqtt_connected"], 10, "the agent on the broker")
        assert "(MQTT 3.1.1)" in agent.log.read_text()
        result = cli("report", "--config", cfg, *peers.report_argv("over MQTT 3.1.1"))
        assert result.returncode == 0, result.stdout + result.stderr
        (case,) = intake_cases(tmp_path, "v3")
        assert case["transport"] == "mqtt" and case["subject"] == "over MQTT 3.1.1"
    finally:
        intake.stop()


def test_a_puback_with_a_failure_reason_is_not_a_delivery(tmp_path, certs, make_config, cli, agent_process):
    folder = tmp_path / "acl-broker"
    folder.mkdir()
    passwords = folder / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "box", "CANARY-box-pw"], check=True)
    acl = folder / "acl"
    acl.write_text(
        "user box\ntopic readwrite diag-agent/TEST-0001/status\ntopic read diag-agent/TEST-0001/#\n"
        "topic write diag-agent/TEST-0001/notice\n"
    )
    broker = peers.start_mosquitto(folder, f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl}\n")
    try:
        cfg = make_config(
            backend={"transport": "mqtt", **fast_retries()},
            mqtt={"enabled": True, "port": broker.info["port"], "username": "box", "password": "CANARY-box-pw"},
            extra={"report": {"wait_for_case_s": 5}},
        )
        agent = agent_process(cfg)
        peers.wait_for(lambda: status(cli, cfg)["mqtt_connected"], 10, "the agent on the broker")
        result = cli("report", "--config", cfg, *peers.report_argv("denied"))
        assert result.returncode == 3
        assert "the broker refused the publish: Not authorized" in result.stdout
        assert waiting(status(cli, cfg)) == 1
        assert "CANARY" not in agent.log.read_text()
    finally:
        broker.stop()


def test_mqtt_over_tls_with_the_right_ca_only(tmp_path, certs, make_config, cli, agent_process):
    port = peers.free_port()
    tls = f"cafile {certs['ca']}\ncertfile {certs['cert']}\nkeyfile {certs['key']}\n"
    broker = peers.start_mosquitto(tmp_path / "tls-broker", tls, port=port)
    try:
        good = make_config(mqtt={"enabled": True, "port": port, "tls": True, "ca_file": certs["ca"]})
        agent_process(good)
        peers.wait_for(lambda: status(cli, good)["mqtt_connected"], 10, "a TLS connection")
        agent_process.stop_all()
        bad = make_config(mqtt={"enabled": True, "port": port, "tls": True, "ca_file": certs["wrong_ca"]})
        agent = agent_process(bad)
        peers.wait_for(lambda: "certificate not accepted" in agent.log.read_text(), 10, "a clear TLS error")
        assert not status(cli, bad)["mqtt_connected"]
    finally:
        broker.stop()


def test_the_broker_restarting_between_publish_and_receipt_loses_nothing(
    tmp_path, certs, make_config, cli, agent_process
):
    port = peers.free_port()
    broker = peers.start_mosquitto(tmp_path / "b1", port=port)
    cfg = make_config(
        backend={"transport": "mqtt", **fast_retries(timeout_s=3.0)},
        mqtt={"enabled": True, "port": port},
        extra={"report": {"wait_for_case_s": 0}},
    )
    agent_process(cfg)
    peers.wait_for(lambda: status(cli, cfg)["mqtt_connected"], 10, "the agent on the broker")
    # No backend listens yet: the report is published, and its receipt never comes.
    assert cli("report", "--config", cfg, *peers.report_argv("through a restart")).returncode == 3
    broker.stop()
    broker = peers.start_mosquitto(tmp_path / "b2", port=port)
    intake = peers.start_intake(tmp_path / "after", certs["cert"], certs["key"], mqtt_port=port)
    try:
        peers.wait_for(lambda: "subscribed" in intake.log_tail(), 10, "the intake on the broker")
        peers.wait_for(lambda: status(cli, cfg)["outbox"]["delivered"] == 1, 40, "delivery after the restart")
        (case,) = intake_cases(tmp_path, "after")
        assert case["subject"] == "through a restart" and case["transport"] == "mqtt"
    finally:
        intake.stop()
        broker.stop()


def test_auto_reaches_a_broker_that_speaks_only_3_1_1_writes_it_down_and_probes_again(
    tmp_path, make_config, agent_process, cli
):
    amqtt = peers.start_amqtt(tmp_path / "amqtt")  # drops an MQTT 5 CONNECT without a CONNACK
    try:
        cfg = make_config(mqtt={"enabled": True, "port": amqtt.info["port"], "protocol": "auto"})
        agent = agent_process(cfg)
        status = peers.wait_for(
            lambda: (s := status_of(cli, cfg))["mqtt_connected"] and s, 40, "the agent connected to amqtt"
        )
        assert status["mqtt"]["protocol"] == "3.1.1"
        log = agent.log.read_text()
        assert log.count("trying MQTT 3.1.1") == 1 and "CONNECT" in log  # said once, with its reason
        learned = json.loads((tmp_path / "state" / "mqtt.json").read_text())[f"127.0.0.1:{amqtt.info['port']}"]
        assert learned["version"] == "3.1.1" and abs(learned["since"] - time.time()) < 120
        agent.stop()
        seen = len(agent.log.read_text())  # both runs log to the same file
        again = agent_process(cfg)  # a fallback is not for ever: MQTT 5 is tried first at every start
        peers.wait_for(lambda: status_of(cli, cfg)["mqtt_connected"], 40, "the agent connected again")
        assert again.log.read_text()[seen:].count("trying MQTT 3.1.1") == 1
    finally:
        amqtt.stop()


def status_of(cli, cfg) -> dict:
    return json.loads(cli("status", "--json", "--config", cfg).stdout)


def test_a_report_no_transport_can_carry_is_refused_with_the_reason_and_check_config_warns(
    tmp_path, make_config, agent_process, cli
):
    broker = peers.start_mosquitto(tmp_path / "broker", "max_packet_size 4096\n")  # announced in the CONNACK
    try:
        cfg = make_config(
            backend={"transport": "mqtt", **fast_retries()},
            mqtt={"enabled": True, "port": broker.info["port"]},
            extra={"report": {"wait_for_case_s": 5}},
        )
        checked = cli("check-config", cfg)
        assert checked.returncode == 0 and "warning" in checked.stderr and "backend.url" in checked.stderr
        agent_process(cfg)
        peers.wait_for(lambda: status_of(cli, cfg)["mqtt_connected"], 15, "the agent on the broker")
        cli("report", "--config", cfg, *peers.report_argv("too large for this broker"))
        outbox = peers.wait_for(
            lambda: (s := status_of(cli, cfg)["outbox"])["refused"] == 1 and s, 20, "the report refused"
        )
        assert outbox["sending"] == 0 and outbox["accepted"] == 0  # not retried for ever
        cases = json.loads(cli("cases", "--json", "--config", cfg).stdout)
        (report,) = cases["reports"]
        assert report["state"] == "refused" and "no configured transport can carry" in report["error"]
        assert "packet limit (4096 bytes" in report["error"]
    finally:
        broker.stop()


def test_the_daily_reprobe_tries_mqtt_5_again_and_falls_back_within_seconds(tmp_path):
    from agent.config import MqttConfig
    from agent.transports.mqtt import MqttLink, Negotiation, reprobe

    amqtt = peers.start_amqtt(tmp_path / "amqtt")
    link = MqttLink(MqttConfig(enabled=True, port=amqtt.info["port"]), "BOX-1", memory=tmp_path / "mqtt.json")
    Negotiation.CONNACK_WAIT_S = 3.0
    try:
        link.start()
        peers.wait_for(lambda: link.connected and link.talk.version == "3.1.1", 30, "3.1.1 after the fallback")
        reprobe(link)  # the calendar job at 03:17 in the box's zone
        peers.wait_for(lambda: link.talk.attempt >= 3, 15, "a new CONNECT after the re-probe")
        peers.wait_for(lambda: link.connected and link.talk.version == "3.1.1", 30, "3.1.1 again")
        assert link.talk.not_authorized is False
    finally:
        Negotiation.CONNACK_WAIT_S = 10.0
        link.stop()
        amqtt.stop()
