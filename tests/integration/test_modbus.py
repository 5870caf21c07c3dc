"""Polling against the simulated wallbox over Modbus TCP and over RTU on a socat pty pair."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent import config
from agent.devices.poller import ModbusPoller
from rigs import peers

ALL_PROFILES = {"evse_din": 1, "ev_cc": 2, "sdm630": 105, "sdm72_v1": 4, "sdm72_v2": 5, "sdm120": 6, "em24": 7}


def served(sim, unit):
    return peers.simulator_command(sim, "state")["units"][str(unit)]["values"]


def values_of(snapshot, device):
    return {name: v.value for name, v in snapshot[device].values.items()}


def assert_matches(read: dict, served_values: dict, profile) -> None:
    assert set(read) == set(served_values)
    for name, value in served_values.items():
        spec = profile.values[name]
        if spec.type == "string":
            assert read[name] == str(value), name
        elif spec.type == "f32":
            assert read[name] == pytest.approx(value, rel=1e-6), name
        else:  # a scaled integer carries the value to within one step of its scale
            assert read[name] == pytest.approx(value, abs=spec.scale / 2 + 1e-9), name


def poll(cfg_path, cycles=1):
    poller = ModbusPoller.from_config(config.load(cfg_path))
    try:
        for _ in range(cycles):
            poller.poll_once()
        return poller.snapshot()
    finally:
        poller.close()


@pytest.fixture(params=["tcp", "rtu"])
def every_profile(request, tmp_path):
    """One simulator serving every shipped profile, each on its own unit, over TCP or RTU."""
    devices = [f"{u}:{p}" for p, u in ALL_PROFILES.items()]
    socat = None
    if request.param == "tcp":
        peer = peers.start_simulator(tmp_path / "all", devices=devices)
        peer.info["bus"] = {"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": peer.info["tcp_port"]}
    else:
        socat, sim_end, agent_end = peers.start_socat_pair(tmp_path / "all")
        peer = peers.start_simulator(tmp_path / "all", tcp=False, rtu=sim_end, devices=devices)
        peer.info["bus"] = {"name": "sim", "type": "rtu", "device": agent_end, "baudrate": 9600}
    yield peer
    peer.stop()
    if socat:
        socat.stop()


def test_every_shipped_profile_reads_what_the_simulator_serves(every_profile, make_config):
    from agent.devices.profiles import available_profiles, load_profile

    profiles_dir = peers.ROOT / "config" / "profiles"
    assert set(available_profiles(profiles_dir)) == set(ALL_PROFILES)
    peers.simulator_command(every_profile, "hold", "on")
    bus = every_profile.info["bus"]
    devices = [{"name": p, "bus": "sim", "profile": p, "unit": u} for p, u in ALL_PROFILES.items()]
    snapshot = poll(make_config(buses=[bus], devices=devices))
    for name, unit in ALL_PROFILES.items():
        assert snapshot[name].reachable, (name, snapshot[name].last_error)
        assert snapshot[name].value_errors == {}, name
        assert_matches(values_of(snapshot, name), served(every_profile, unit), load_profile(profiles_dir, name))
    assert snapshot["ev_cc"].values["vehicle_state"].label.startswith(("A:", "B:", "C:"))


def test_tcp_values_equal_what_the_simulator_serves(simulator, sim_bus, make_config):
    from agent.devices.profiles import load_profile

    peers.simulator_command(simulator, "hold", "on")
    snapshot = poll(make_config(buses=[sim_bus], devices=peers.sim_devices()))
    profiles = peers.ROOT / "config" / "profiles"
    assert_matches(values_of(snapshot, "meter"), served(simulator, 105), load_profile(profiles, "sdm630"))
    assert_matches(values_of(snapshot, "evse"), served(simulator, 1), load_profile(profiles, "evse_din"))
    assert snapshot["evse"].values["vehicle_state"].label.startswith(("A:", "B:", "C:"))
    assert snapshot["meter"].values["voltage_l1"].unit == "V"


def test_rtu_values_equal_what_the_simulator_serves(rtu_simulator, make_config):
    from agent.devices.profiles import load_profile

    peers.simulator_command(rtu_simulator, "hold", "on")
    bus = {
        "name": "rs485",
        "type": "rtu",
        "device": rtu_simulator.info["agent_port"],
        "baudrate": 9600,
        "timeout_s": 1.0,
    }
    snapshot = poll(make_config(buses=[bus], devices=peers.sim_devices("rs485")))
    assert snapshot["meter"].reachable and snapshot["evse"].reachable
    profiles = peers.ROOT / "config" / "profiles"
    assert_matches(values_of(snapshot, "meter"), served(rtu_simulator, 105), load_profile(profiles, "sdm630"))
    assert_matches(values_of(snapshot, "evse"), served(rtu_simulator, 1), load_profile(profiles, "evse_din"))


def test_mbpoll_reads_the_same_values(simulator):
    """A Modbus client nobody here wrote agrees with the simulator."""
    peers.simulator_command(simulator, "hold", "on")
    meter, evse = served(simulator, 105), served(simulator, 1)
    port = str(simulator.info["tcp_port"])
    out = subprocess.run(
        [
            "mbpoll",
            "-m",
            "tcp",
            "-p",
            port,
            "-a",
            "105",
            "-t",
            "3:float",
            "-B",
            "-0",
            "-r",
            "0",
            "-c",
            "6",
            "-1",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    read = {
        int(line.split(":")[0].strip("[]")): float(line.split(":")[1])
        for line in out.splitlines()
        if line.startswith("[")
    }
    assert read[0] == pytest.approx(meter["voltage_l1"], rel=1e-6)
    assert read[4] == pytest.approx(meter["voltage_l3"], rel=1e-6)
    out = subprocess.run(
        ["mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-t", "4", "-0", "-r", "1000", "-c", "8", "-1", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    read = {
        int(line.split(":")[0].strip("[]")): int(line.split(":")[1])
        for line in out.splitlines()
        if line.startswith("[")
    }
    assert read[1002] == evse["vehicle_state"]
    assert read[1005] == evse["firmware_version"] == 18


def test_garbled_and_slow_replies_are_recorded_and_polling_goes_on(simulator, sim_bus, make_config):
    cfg = make_config(buses=[dict(sim_bus, timeout_s=0.3, retries=1)], devices=peers.sim_devices())
    peers.simulator_command(simulator, "fault", "garbled", "on")
    snapshot = poll(cfg)
    # Every reply garbled: not reachable, and told apart from silence (noise on the bus, not a dead device).
    assert not snapshot["meter"].reachable and "garbled" in snapshot["meter"].last_error
    assert snapshot["meter"].answer == "noise"
    peers.simulator_command(simulator, "fault", "garbled", "off")
    peers.simulator_command(simulator, "fault", "slow", "on")
    poller = ModbusPoller.from_config(config.load(cfg))
    try:
        poller.poll_once()
        assert not poller.snapshot()["evse"].reachable
        assert poller.snapshot()["evse"].answer == "timeout"
        peers.simulator_command(simulator, "fault", "slow", "off")
        peers.simulator_command(simulator, "hold", "on")
        poller.poll_once()  # a late reply to the slow read must not be taken for this one
        snapshot = poller.snapshot()
    finally:
        poller.close()
    assert snapshot["meter"].reachable and snapshot["evse"].reachable
    evse = served(simulator, 1)
    assert {n: v.value for n, v in snapshot["evse"].values.items()} == {n: evse[n] for n in snapshot["evse"].values}


def test_injected_faults_show_in_the_readings(simulator, sim_bus, make_config):
    cfg = make_config(buses=[sim_bus], devices=peers.sim_devices())
    peers.simulator_command(simulator, "fault", "vehicle_failure", "on")
    peers.simulator_command(simulator, "fault", "lost_phase", "on")
    snapshot = poll(cfg)
    assert snapshot["evse"].values["vehicle_state"].value == 5
    assert snapshot["meter"].values["voltage_l3"].value == 0.0
    assert snapshot["meter"].values["voltage_l1"].value > 200


def test_a_silent_meter_is_recorded_its_values_age_and_the_controller_is_still_read(simulator, sim_bus, make_config):
    poller = ModbusPoller.from_config(config.load(make_config(buses=[sim_bus], devices=peers.sim_devices())))
    try:
        poller.poll_once()
        peers.simulator_command(simulator, "fault", "meter_silent", "on")
        poller.poll_once()
        snapshot = poller.snapshot()
    finally:
        poller.close()
    assert snapshot["meter"].reachable is False
    assert "unit 105" in snapshot["meter"].last_error
    assert snapshot["meter"].values["voltage_l1"].age_s >= 0.5  # the last good value, with its age
    assert snapshot["evse"].reachable is True


def test_a_dead_gateway_is_retried_with_backoff_and_recovers_by_itself(tmp_path, make_config):
    port = peers.free_port()
    bus = {"name": "gw", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_s": 0.3}
    poller = ModbusPoller.from_config(config.load(make_config(buses=[bus], devices=peers.sim_devices("gw"))))
    sim = None
    try:
        poller.poll_once()
        assert "cannot connect" in poller.snapshot()["meter"].last_error
        poller.poll_once()  # within the backoff: no new connection attempt
        assert "next try in" in poller.snapshot()["meter"].last_error
        sim = peers.spawn(
            "late-sim",
            [sys.executable, "-m", "rigs.wallbox_sim", "serve", "--tcp-port", str(port)],
            tmp_path,
            ready_line=True,
        )

        def recovered():
            poller.poll_once()
            return poller.snapshot()["meter"].reachable

        peers.wait_for(recovered, 10, "the poller to reconnect", interval=0.2)
    finally:
        poller.close()
        if sim:
            sim.stop()


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
    assert any(
        line.startswith("diag-agent: device meter did not answer: cannot connect to 127.0.0.1:") for line in lines
    ), lines
