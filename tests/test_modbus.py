"""Polling against the simulated wallbox over Modbus TCP and over RTU on a socat pty pair."""

from __future__ import annotations

import json
import subprocess

import pytest

import peers
from agent import config
from agent.collect.modbus import ModbusPoller, open_devices


def served(sim):
    return peers.simulator_command(sim, "state")


def values_of(snapshot, device):
    return {name: v["value"] for name, v in snapshot[device]["values"].items()}


def assert_matches_simulator(snapshot, state):
    meter, evse = values_of(snapshot, "meter"), values_of(snapshot, "evse")
    assert set(meter) == set(state["meter"])
    for name, value in state["meter"].items():
        assert meter[name] == pytest.approx(value, rel=1e-6), name
    assert evse == state["evse"]


def poll(cfg_path):
    poller = ModbusPoller(open_devices(config.load(cfg_path)))
    try:
        poller.poll_once()
        return poller.snapshot()
    finally:
        poller.close()


def test_tcp_values_equal_what_the_simulator_serves(simulator, sim_bus, make_config):
    peers.simulator_command(simulator, "hold", "on")
    snapshot = poll(make_config(buses=[sim_bus], devices=peers.sim_devices()))
    assert_matches_simulator(snapshot, served(simulator))
    assert snapshot["evse"]["values"]["vehicle_state"]["label"].startswith(("A:", "B:", "C:"))
    assert snapshot["meter"]["values"]["voltage_l1"]["unit"] == "V"


def test_rtu_values_equal_what_the_simulator_serves(rtu_simulator, make_config):
    peers.simulator_command(rtu_simulator, "hold", "on")
    bus = {"name": "rs485", "type": "rtu", "device": rtu_simulator.info["agent_port"], "baudrate": 9600,
           "timeout_s": 1.0}
    snapshot = poll(make_config(buses=[bus], devices=peers.sim_devices("rs485")))
    assert snapshot["meter"]["reachable"] and snapshot["evse"]["reachable"]
    assert_matches_simulator(snapshot, served(rtu_simulator))


def test_mbpoll_reads_the_same_values(simulator):
    """A Modbus client nobody here wrote agrees with the simulator."""
    peers.simulator_command(simulator, "hold", "on")
    state = served(simulator)
    port = str(simulator.info["tcp_port"])
    out = subprocess.run(["mbpoll", "-m", "tcp", "-p", port, "-a", "105", "-t", "3:float", "-B", "-0", "-r", "0",
                          "-c", "6", "-1", "127.0.0.1"], capture_output=True, text=True, timeout=20).stdout
    read = {int(line.split(":")[0].strip("[]")): float(line.split(":")[1]) for line in out.splitlines()
            if line.startswith("[")}
    assert read[0] == pytest.approx(state["meter"]["voltage_l1"], rel=1e-6)
    assert read[4] == pytest.approx(state["meter"]["voltage_l3"], rel=1e-6)
    out = subprocess.run(["mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-t", "4", "-0", "-r", "1000", "-c", "8",
                          "-1", "127.0.0.1"], capture_output=True, text=True, timeout=20).stdout
    read = {int(line.split(":")[0].strip("[]")): int(line.split(":")[1]) for line in out.splitlines()
            if line.startswith("[")}
    assert read[1002] == state["evse"]["vehicle_state"]
    assert read[1005] == state["evse"]["firmware_version"] == 18


def test_injected_faults_show_in_the_readings(simulator, sim_bus, make_config):
    cfg = make_config(buses=[sim_bus], devices=peers.sim_devices())
    peers.simulator_command(simulator, "fault", "vehicle_failure", "on")
    peers.simulator_command(simulator, "fault", "lost_phase", "on")
    snapshot = poll(cfg)
    assert snapshot["evse"]["values"]["vehicle_state"]["value"] == 5
    assert snapshot["meter"]["values"]["voltage_l3"]["value"] == 0.0
    assert snapshot["meter"]["values"]["voltage_l1"]["value"] > 200


def test_a_silent_meter_is_recorded_and_the_controller_still_read(simulator, sim_bus, make_config):
    peers.simulator_command(simulator, "fault", "meter_silent", "on")
    snapshot = poll(make_config(buses=[sim_bus], devices=peers.sim_devices()))
    assert snapshot["meter"]["reachable"] is False
    assert "unit 105" in snapshot["meter"]["last_error"]
    assert snapshot["evse"]["reachable"] is True


def test_poll_once_json_prints_values_with_units(simulator, sim_bus, make_config, cli):
    result = cli("poll", "--once", "--json", "--config", make_config(buses=[sim_bus], devices=peers.sim_devices()))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["meter"]["values"]["frequency"]["unit"] == "Hz"
    assert 49.5 < data["meter"]["values"]["frequency"]["value"] < 50.5


def test_a_modbus_host_that_does_not_answer_gives_one_line_and_exit_1(make_config, cli):
    bus = {"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": peers.free_port(), "timeout_s": 0.3}
    result = cli("poll", "--once", "--config", make_config(buses=[bus], devices=peers.sim_devices()))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("diag-agent: device meter did not answer: cannot connect to 127.0.0.1:")
               for line in lines), lines
