"""Bus etiquette: the lock file shared with the firmware, and the bus-time budget."""

from __future__ import annotations

from agent import config
from agent.devices.poller import open_buses
from rigs import peers


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
