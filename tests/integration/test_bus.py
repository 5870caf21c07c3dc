"""Bus etiquette: the lock file shared with the firmware, and the bus-time budget."""

from __future__ import annotations

import fcntl

from agent import config
from agent.devices.poller import ModbusPoller
from rigs import peers


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
