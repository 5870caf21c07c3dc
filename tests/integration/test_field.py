"""The field corpus: peers that behave as real meters, gateways, buses and cars do, each a small server
with one behaviour, written on raw frames (scripts/field_devices.py, not pymodbus), and what the agent
makes of each. A false fault is worse than a missing one."""

from __future__ import annotations

import json

from rigs import peers
from rigs.field_devices import Behaviour, serve_rtu
from tests.unit.test_field import SERIAL, Clock, devices, field, run_cycles, tcp_bus, tcp_field  # noqa: F401  (fixtures and helpers shared with that tier)


def test_a_meter_without_the_serial_register_answers_everything_else_and_raises_nothing(tcp_field, make_config, cli):
    f, port = tcp_field((105, "sdm630", Behaviour(missing=[SERIAL])))
    cfg = make_config(buses=[tcp_bus(port)], devices=devices())
    snapshot, raised, requests = run_cycles(cfg, 30)
    meter = snapshot["meter"]
    assert meter.reachable and not raised
    assert list(meter.unsupported) == ["serial_number"]
    assert "not offered by this device (exception 2" in meter.unsupported["serial_number"]
    assert meter.values["voltage_l1"].value > 200 and "serial_number" not in meter.values
    # Found once, then planned around: 4 blocks a cycle, and the missing register asked for twice at start.
    assert requests <= 30 * 4 + 3
    poll = cli("poll", "--once", "--config", cfg)
    assert poll.returncode == 0 and "meter (Eastron SDM630, unit 105): ok" in poll.stdout
    assert "serial_number            not offered by this device" in poll.stdout
    check = json.loads(cli("check", "--json", "--config", cfg).stdout)
    (item,) = [c for c in check["checks"] if c["id"] == "device_meter:meter"]
    assert item["status"] == "pass" and "not offered by this device: serial_number" in item["detail"]


def test_a_silent_unit_behind_a_gateway_is_told_apart_from_a_dead_gateway(tcp_field, make_config, cli):
    f, port = tcp_field((105, "sdm630", Behaviour(silent=True, behind_gateway=True)))
    cfg = make_config(buses=[tcp_bus(port)], devices=devices())
    snapshot, raised, _ = run_cycles(cfg, 4)
    assert not snapshot["meter"].reachable and snapshot["meter"].answer == "gateway"
    assert raised == ["device_unreachable"]  # silent for real: the fault is true
    check = cli("check", "--config", cfg)
    assert "The Modbus gateway answers, but the meter behind it does not" in check.stdout
    dead = make_config(buses=[tcp_bus(peers.free_port())], devices=devices())
    snapshot, _, _ = run_cycles(dead, 1)
    assert snapshot["meter"].answer == "connection"
    assert "The Modbus TCP gateway cannot be reached" in cli("check", "--config", dead).stdout


def test_a_wrong_unit_id_gets_its_own_hint_and_the_scan_finds_the_device(tcp_field, make_config, cli):
    f, port = tcp_field((2, "sdm630", Behaviour()), (1, "evse_din", Behaviour()), gateway=False)
    cfg = make_config(buses=[tcp_bus(port)], devices=devices(meter_unit=5))
    check = cli("check", "--config", cfg)
    assert "Unit 5 does not answer, but unit 2 (Eastron SDM630) on the same bus does" in check.stdout
    scan = cli("scan", "--config", cfg, "--units", "1-8,100-110", "--timeout", "0.1")
    assert scan.returncode == 0, scan.stderr
    assert "unit   1  answers" in scan.stdout and "evse_din (openWB EVSE DIN)" in scan.stdout
    assert "unit   2  answers" in scan.stdout and "sdm630 (Eastron SDM630)" in scan.stdout
    assert "configured meter (unit 5, sdm630): does not answer; unit 2 answers as a sdm630" in scan.stdout
    data = json.loads(cli("scan", "--config", cfg, "--units", "2-12", "--timeout", "0.1", "--json").stdout)
    assert [f["unit"] for f in data[0]["found"]] == [2] and data[0]["units_asked"] == 11
    bad = cli("scan", "--config", cfg, "--units", "0-300")
    assert bad.returncode == 2 and "expected ids from 1 to 247" in bad.stderr


def test_a_device_that_answers_as_another_model_is_a_wrong_profile_not_a_pass(tcp_field, make_config, cli):
    f, port = tcp_field((105, "sdm630", Behaviour()))
    cfg = make_config(
        buses=[tcp_bus(port)], devices=[{"name": "evse", "bus": "field", "profile": "evse_din", "unit": 105}]
    )
    snapshot, raised, _ = run_cycles(cfg, 3)
    assert snapshot["evse"].reachable and not snapshot["evse"].values and not raised
    checks = {c["id"]: c for c in json.loads(cli("check", "--json", "--config", cfg).stdout)["checks"]}
    item = checks["device_charge_controller:evse"]
    assert item["status"] == "fail" and "not as the configured profile (evse_din)" in item["hint"]
    assert checks["grid"]["status"] == "no_data" and "No device that measures the mains" in checks["grid"]["hint"]


def test_garbled_rtu_frames_are_noise_not_a_dead_meter(tmp_path, make_config):
    import threading

    socat, device_end, agent_end = peers.start_socat_pair(tmp_path / "rtu")
    stop = threading.Event()
    try:
        serve_rtu(field((105, "sdm630", Behaviour(garble_every=3))), device_end, stop)
        bus = {"name": "field", "type": "rtu", "device": agent_end, "baudrate": 115200, "timeout_s": 0.3, "retries": 0}
        snapshot, raised, _ = run_cycles(make_config(buses=[bus], devices=devices()), 12)
        meter = snapshot["meter"]
        assert meter.reachable and not raised and meter.noise >= 3
        assert meter.values["voltage_l1"].value > 200
    finally:
        stop.set()
        socat.stop()
