"""The real `diag-agent run` process end to end: simulator -> agent -> HTTPS intake, MQTT status, systemd."""

from __future__ import annotations

import json
import queue
import signal
import socket
import time
from itertools import pairwise

import pytest

from agent.devices.history import decode_raw
from agent.report.bundle import read_bundle
from agent.report.sections.history import read as read_history
from rigs import peers


@pytest.fixture
def rig(tmp_path, simulator, sim_bus, intake, broker, certs, make_config):
    peers.simulator_command(simulator, "hold", "on")
    config = make_config(
        buses=[sim_bus],
        devices=peers.sim_devices(),
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        mqtt={"enabled": True, "port": broker.info["port"]},
    )
    return {"config": config, "simulator": simulator, "intake": intake, "broker": broker}


def retained_status(broker, serial="TEST-0001", want=None, timeout=10.0) -> dict:
    """Read the retained status topic as a fresh subscriber would, until it matches WANT."""
    client, got = peers.subscriber(broker, f"diag-agent/{serial}/status")
    try:

        def matching():
            try:
                status = got.get(timeout=0.2)
            except queue.Empty:
                return None
            return status if want is None or all(status.get(k) == v for k, v in want.items()) else None

        return peers.wait_for(matching, timeout, f"status {want}")
    finally:
        client.loop_stop()
        client.disconnect()


def test_report_through_the_daemon_reaches_a_case_with_the_served_readings(tmp_path, rig, agent_process, cli):
    agent = agent_process(rig["config"])
    result = cli(
        "report",
        "--config",
        rig["config"],
        *peers.report_argv("Car stops charging"),
        "--description",
        "Stops after one minute",
        "--email",
        "owner@example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered: case CASE-000001 (low priority)" in result.stdout
    report_id = result.stdout.split()[1]

    stored = peers.intake_bundle(tmp_path / "intake-run" / "intake", report_id)
    manifest, members = read_bundle(stored.read_bytes())
    assert manifest["subject"] == "Car stops charging" and manifest["email"] == "owner@example.com"
    assert manifest["device"]["serial"] == "TEST-0001" and manifest["software"]["firmware_version"] == "2.4.1"
    readings = json.loads(members["readings.json"])
    units = peers.simulator_command(rig["simulator"], "state")["units"]
    assert readings["meter"]["values"]["voltage_l2"]["value"] == pytest.approx(units["105"]["values"]["voltage_l2"])
    assert readings["evse"]["values"]["vehicle_state"]["value"] == units["1"]["values"]["vehicle_state"]

    status = json.loads(cli("status", "--json", "--config", rig["config"]).stdout)
    assert status["last_receipt"]["case"] == "CASE-000001"
    assert status["outbox"] == {"accepted": 0, "sending": 0, "refused": 0, "delivered": 1, "evicted": 0, "damaged": 0}
    assert retained_status(rig["broker"], want={"online": True})
    assert agent.alive()


def test_faults_reach_status_and_the_report_carries_history_and_timeline(
    tmp_path, simulator, sim_bus, intake, certs, make_config, agent_process, cli
):
    config = make_config(
        buses=[sim_bus],
        devices=peers.sim_devices(),
        poll_interval_s=0.5,
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        extra={"faults": {"raise_after_s": 0, "clear_after_s": 0}},
    )
    agent_process(config)
    peers.simulator_command(simulator, "fault", "vehicle_failure", "on")

    def fault_in_status():
        status = json.loads(cli("status", "--json", "--config", config).stdout)
        return [f for f in status["faults"] if f["code"] == "vehicle_failure"]

    (fault,) = peers.wait_for(fault_in_status, 15, "the vehicle_failure fault in status")
    assert fault["device"] == "evse" and fault["category"] == "charging"
    human = cli("status", "--config", config).stdout
    assert "FAULT vehicle_failure (critical, charging) on evse" in human

    result = cli("report", "--config", config, *peers.report_argv("box shows a failure"))
    assert result.returncode == 0, result.stderr
    report_id = result.stdout.split()[1]
    _, members = read_bundle(peers.intake_bundle(tmp_path / "intake-run" / "intake", report_id).read_bytes())
    faults = json.loads(members["faults.json"])
    assert "vehicle_failure" in [f["code"] for f in faults["active"]]
    assert any(e["kind"] == "raised" and e["code"] == "vehicle_failure" for e in faults["timeline"])
    history = read_history(members)
    assert history["meter"]["voltage_l1"]["unit"] == "V" and len(history["meter"]["voltage_l1"]["raw"]) >= 1
    assert json.loads(members["buses.json"])["sim"]["slow_every"] == 12


def test_on_site_report_is_high_priority_at_the_intake(rig, agent_process, cli):
    agent_process(rig["config"])
    result = cli("report", "--config", rig["config"], *peers.report_argv("Installer on site"), "--on-site")
    assert result.returncode == 0, result.stderr
    assert "(high priority)" in result.stdout


def test_report_without_a_daemon_is_made_and_sent_by_the_command_itself(rig, cli):
    result = cli("report", "--config", rig["config"], *peers.report_argv("no daemon here"))
    assert result.returncode == 0, result.stderr
    assert "delivered: case CASE-" in result.stdout


def test_systemd_notify_and_a_clean_stop_on_sigterm(tmp_path, rig, agent_process):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.2)
    messages: list[tuple[float, str]] = []

    def received(text, count=1):
        try:
            messages.append((time.monotonic(), notify.recv(4096).decode()))
        except TimeoutError:
            pass
        return sum(m == text for _, m in messages) >= count

    agent = agent_process(
        rig["config"], env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}
    )
    peers.wait_for(lambda: received("READY=1"), 10, "READY=1")
    peers.wait_for(lambda: received("WATCHDOG=1", count=3), 10, "watchdog pings")
    retained_status(rig["broker"], want={"online": True})

    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=5) == 0  # an orderly stop, before systemd would need SIGKILL
    peers.wait_for(lambda: received("STOPPING=1"), 2, "STOPPING=1")
    assert retained_status(rig["broker"], want={"online": False})
    leftovers = [p.name for p in (tmp_path / "state" / "outbox").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [] and not (tmp_path / "state" / "control.sock").exists()
    notify.close()


def test_watchdog_pings_come_from_the_main_loop(tmp_path, simulator, sim_bus, make_config, agent_process):
    """A poll that hangs holds back the watchdog, so systemd would catch a hung loop."""
    bus = dict(sim_bus, timeout_s=3.0)
    config = make_config(buses=[bus], devices=peers.sim_devices()[:1], poll_interval_s=1.0)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.1)
    agent_process(config, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"})

    def pings(count: int) -> list[float]:
        """The arrival of the next COUNT watchdog pings (the socket's own order, for the gaps between them)."""
        seen: list[float] = []
        while len(seen) < count:
            try:
                if notify.recv(4096) == b"WATCHDOG=1":
                    seen.append(time.monotonic())
            except TimeoutError:
                pass
        return seen

    normal = pings(10)
    peers.simulator_command(simulator, "fault", "slow", "on")  # every reply now takes 1.5 s: a poll holds the loop
    pings(2)  # the poll under way when the fault came
    slow = pings(6)
    # Not a duration asserted: the pattern. The loop pings between its jobs, so a hung poll shows as gaps between
    # pings many times longer than the gaps of a loop that turns freely, whatever the machine's speed.
    assert max(b - a for a, b in pairwise(slow)) > 5 * sorted(b - a for a, b in pairwise(normal))[4]
    notify.close()


def test_report_out_goes_through_the_running_daemon_with_its_faults_history_and_timeline(
    tmp_path, simulator, sim_bus, make_config, agent_process, cli
):
    config = make_config(
        buses=[sim_bus],
        devices=peers.sim_devices(),
        poll_interval_s=0.5,
        extra={"faults": {"raise_after_s": 0, "clear_after_s": 0}},
    )
    agent_process(config)
    peers.simulator_command(simulator, "fault", "vehicle_failure", "on")
    peers.wait_for(lambda: "vehicle_failure" in cli("status", "--config", config).stdout, 15, "the fault in status")
    out = tmp_path / "taken-away.tar.gz"
    result = cli("report", "--config", config, *peers.report_argv("Taken away by hand"), "--out", out)
    assert result.returncode == 0 and "from the running daemon" in result.stdout, result.stdout + result.stderr
    manifest, members = read_bundle(out.read_bytes())
    faults = json.loads(members["faults.json"])
    assert "vehicle_failure" in [f["code"] for f in faults["active"]]
    assert any(e["kind"] == "raised" and e["code"] == "vehicle_failure" for e in faults["timeline"])
    voltages = decode_raw(read_history(members)["meter"]["voltage_l1"]["raw"])
    assert voltages and 200 < voltages[-1][1] < 260
    assert manifest["priority"] == "medium"  # the daemon's active fault counts in
    assert not list((tmp_path / "state" / "outbox").glob("*.json"))  # --out sends nothing


def test_a_refused_report_is_called_refused_everywhere(tmp_path, certs, make_config, agent_process, cli):
    import requests

    from agent.channels import control

    port = peers.free_port()
    intake = peers.start_intake(
        tmp_path / "strict", certs["cert"], certs["key"], extra=["--refuse", "1", "--refuse-status", "403"]
    )
    try:
        cfg = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"]},
            extra={"report": {"wait_for_case_s": 5}, "web": {"port": port}},
        )
        agent = agent_process(cfg)
        result = cli("report", "--config", cfg, *peers.report_argv("Will be refused"))
        assert "refused by the backend" in result.stdout and "goes out when" not in result.stdout
        status = json.loads(cli("status", "--json", "--config", cfg).stdout)
        assert status["outbox"]["refused"] == 1 and status["outbox"]["sending"] == 0
        peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
        (listed,) = requests.get(f"http://127.0.0.1:{port}/api/reports", timeout=10).json()["reports"]
        assert listed["state"] == "refused" and "download it" in listed["note"]
        check = control.call(agent.info["control"], "check")
        (outbox,) = [c for c in check["checks"] if c["id"] == "outbox"]
        assert outbox["status"] == "fail" and "refused" in outbox["hint"] and "network works" not in outbox["hint"]
    finally:
        intake.stop()


def test_every_thread_the_daemon_starts_is_named_and_gone_after_its_stop(tmp_path, rig):
    """Each part owns its threads and stops them: after run() returns, none of them is left behind (a
    thread that outlives the daemon writes to a state folder nobody watches)."""
    import threading

    from agent.config import load
    from agent.request import check_request
    from agent.service.daemon import Daemon

    before = set(threading.enumerate())
    daemon = Daemon(load(rig["config"]))
    runner = threading.Thread(target=daemon.run, kwargs={"handle_signals": False}, name="test-daemon")
    runner.start()
    try:
        peers.wait_for(lambda: daemon.mqtt.connected, 20, "the MQTT link up")
        request = check_request(
            {
                "subject": "Threads after the stop",
                "description": "A report while every part runs, so each has started its threads.",
            },
            "schedule",
        )
        report_id = daemon.desk.submit(request)
        peers.wait_for(lambda: (daemon.desk.state(report_id) or {}).get("state") == "delivered", 30, "delivered")
        started = {t.name for t in set(threading.enumerate()) - before}
        assert {"send", "health", "report", "commands", "web", "control", "fault-calls"} <= started, started
    finally:
        daemon.stop_event.set()
        runner.join(15)
    assert not runner.is_alive()
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive() and t is not runner]
    assert left == [], f"threads left after the stop: {left}"
