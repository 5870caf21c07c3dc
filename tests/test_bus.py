"""Bus etiquette: the lock file shared with the firmware, and the bus-time budget."""

from __future__ import annotations

import fcntl

import peers

from agent import config
from agent.devices.poller import ModbusPoller, open_buses


def rtu_config(make_config, interval_s):
    bus = {"name": "rs485", "type": "rtu", "device": "/dev/ttyUSB9", "baudrate": 9600}
    return config.load(make_config(buses=[bus], devices=peers.sim_devices("rs485"), poll_interval_s=interval_s))


def test_budget_reads_slow_values_less_often_and_says_so(make_config):
    (bus,) = open_buses(rtu_config(make_config, 5.0))
    assert bus.slow_every == 12 and bus.budget_note is None
    (bus,) = open_buses(rtu_config(make_config, 3.5))
    assert bus.slow_every > 12
    assert bus.budget_note.startswith(f"slow values every {bus.slow_every} cycles instead of 12")
    (bus,) = open_buses(rtu_config(make_config, 1.0))
    assert bus.budget_note.startswith("over budget: fast values alone take")


def test_the_firmware_holding_the_bus_lock_skips_a_cycle_without_blaming_the_device(
    tmp_path, simulator, sim_bus, make_config
):
    lock = tmp_path / "LCK..rs485"
    cfg = config.load(
        make_config(buses=[dict(sim_bus, lock_file=str(lock), lock_wait_s=0.2)], devices=peers.sim_devices())
    )
    poller = ModbusPoller.from_config(cfg)
    firmware = open(lock, "w")
    try:
        fcntl.flock(firmware, fcntl.LOCK_EX)  # the firmware's own poll holds the bus
        poller.poll_once()
        snapshot = poller.snapshot()
        assert snapshot["meter"].values == {} and snapshot["meter"].consecutive_failures == 0
        assert poller.bus_status()["sim"]["busy_skips"] == 2
        fcntl.flock(firmware, fcntl.LOCK_UN)
        poller.poll_once()
        snapshot = poller.snapshot()
        assert snapshot["meter"].reachable and snapshot["evse"].reachable
    finally:
        firmware.close()
        poller.close()
