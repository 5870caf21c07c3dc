"""The field corpus: peers that behave as real meters, gateways, buses and cars do, each a small server
with one behaviour, written on raw frames (scripts/field_devices.py, not pymodbus), and what the agent
makes of each. A false fault is worse than a missing one."""

from __future__ import annotations

import pytest

from agent import config
from agent.devices.poller import ModbusPoller
from agent.watch.faults import FaultMonitor
from agent.watch.timeline import Timeline
from rigs.field_devices import Behaviour, Field, FieldUnit, NormalLife, serve_tcp

SERIAL = ("holding", 0xFC00, 0xFC01)  # the SDM630's serial number, missing on many clones


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def field(*units: tuple[int, str, Behaviour], model: NormalLife | None = None) -> Field:
    model = model or NormalLife()
    return Field([FieldUnit(unit, profile, behaviour, model) for unit, profile, behaviour in units])


@pytest.fixture
def tcp_field():
    """Start a raw Modbus TCP 'gateway' for the units given; stopped at the end."""
    servers = []

    def start(*units, model=None, gateway=True):
        f = field(*units, model=model)
        server = serve_tcp(f, gateway=gateway)
        servers.append(server)
        return f, server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def devices(meter_unit=105, evse_unit=None, bus="field"):
    out = [{"name": "meter", "bus": bus, "profile": "sdm630", "unit": meter_unit}]
    if evse_unit:
        out.append({"name": "evse", "bus": bus, "profile": "evse_din", "unit": evse_unit})
    return out


def run_cycles(cfg_path, n: int, clock: Clock | None = None, step: float = 5.0, model: NormalLife | None = None):
    """N poll cycles through the real poller and fault rules; returns the poller's last snapshot and the faults
    raised on the way."""
    cfg = config.load(cfg_path)
    clock = clock or Clock()
    monitor = FaultMonitor(cfg.faults, Timeline(), clock=clock)
    poller = ModbusPoller.from_config(cfg, clock=clock)
    raised = []
    monitor.on_raise = lambda f: raised.append(f.code)
    try:
        for _ in range(n):
            clock.now += step
            poller.poll_once()
            monitor.evaluate(poller.snapshot())
        return poller.snapshot(), raised, sum(b.link.requests for b in poller.buses)
    finally:
        poller.close()


def tcp_bus(port, **kw):
    return dict(
        {"name": "field", "type": "tcp", "host": "127.0.0.1", "port": port, "timeout_s": 0.3, "retries": 0}, **kw
    )


def test_a_device_that_takes_ten_registers_at_a_time_is_read_in_smaller_blocks(tcp_field, make_config):
    f, port = tcp_field((105, "sdm630", Behaviour(max_block=10)))
    snapshot, raised, _ = run_cycles(make_config(buses=[tcp_bus(port)], devices=devices()), 5)
    meter = snapshot["meter"]
    assert meter.reachable and not raised and not meter.unsupported
    assert meter.values["voltage_l1"].value > 200 and meter.values["serial_number"].value == 21034567


def test_a_late_reply_is_a_timeout_and_never_answers_the_next_request(tcp_field, make_config):
    late = Behaviour(late_s=0.5)
    f, port = tcp_field((105, "sdm630", late))
    cfg = make_config(buses=[tcp_bus(port)], devices=devices())
    snapshot, _, _ = run_cycles(cfg, 1)
    assert not snapshot["meter"].reachable and snapshot["meter"].answer == "timeout"
    late.late_s = 0.0
    snapshot, raised, _ = run_cycles(cfg, 2)
    assert snapshot["meter"].reachable and 200 < snapshot["meter"].values["voltage_l1"].value < 260


def test_a_busy_device_now_and_then_is_still_there(tcp_field, make_config):
    f, port = tcp_field((105, "sdm630", Behaviour(busy_every=4)), (1, "evse_din", Behaviour(busy_every=3)))
    snapshot, raised, _ = run_cycles(make_config(buses=[tcp_bus(port)], devices=devices(evse_unit=1)), 30)
    assert not raised and snapshot["meter"].reachable and snapshot["evse"].reachable
    assert snapshot["meter"].busy_answers >= 5 and not snapshot["meter"].unsupported


def test_a_car_resting_in_state_b_and_a_short_dip_raise_nothing_but_a_real_fault_does(tcp_field, make_config):
    clock = Clock(0.0)
    model = NormalLife(clock, start=0.0)
    f, port = tcp_field((105, "sdm630", Behaviour()), (1, "evse_din", Behaviour()), model=model)
    cfg = make_config(buses=[tcp_bus(port)], devices=devices(evse_unit=1))
    clock.now = 19 * 3600  # plugged in at 18:00, resting in B with 16 A offered until 01:00
    snapshot, raised, _ = run_cycles(cfg, 100, clock, step=5.0)  # 500 s > cannot_charge_after_s
    assert snapshot["evse"].iec_state == "B" and not raised
    clock.now = 43200 - 20  # noon: the two-second dip to 200 V, polled at 1 Hz
    snapshot, raised, _ = run_cycles(cfg, 60, clock, step=1.0)
    assert not raised
    model.faults.add("no_current")  # the car asks (state C), 16 A offered, nothing flows: a real fault
    snapshot, raised, _ = run_cycles(cfg, 70, clock, step=5.0)
    assert "cannot_charge" in raised


def test_charging_is_never_passed_while_nothing_measures_the_current():
    from agent.config import FaultConfig
    from agent.watch.judge import judge_devices
    from tests.unit.test_faults import device

    evse = device("charge_controller", iec_state="C", actual_current=16, vehicle_state=3)
    meter = device("meter", reachable=False)
    (charging,) = [j for j in judge_devices({"evse": evse, "meter": meter}, FaultConfig()) if j.topic == "charging"]
    assert charging.status == "no_data" and charging.fault is None
    meter = device("meter", current_l1=15.8)
    (charging,) = [j for j in judge_devices({"evse": evse, "meter": meter}, FaultConfig()) if j.topic == "charging"]
    assert charging.status == "pass"
