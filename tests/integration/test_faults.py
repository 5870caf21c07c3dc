"""Device fault rules: raised and cleared through the simulator's fault injection, with a debounce."""

from __future__ import annotations

import pytest

from agent import config
from agent.config import FaultConfig
from agent.devices.poller import ModbusPoller
from agent.watch.faults import FaultMonitor
from agent.watch.timeline import Timeline
from rigs import peers
from tests.unit.test_faults import Clock, device  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.fixture
def rig(tmp_path, simulator, sim_bus, make_config):
    """A poller on the real simulator and a fault monitor whose clock the test moves."""
    cfg = config.load(make_config(buses=[dict(sim_bus, timeout_s=0.3)], devices=peers.sim_devices()))
    clock, timeline = Clock(), Timeline()
    monitor = FaultMonitor(
        FaultConfig(unreachable_after_cycles=2, cannot_charge_after_s=120, firmware_change_hold_s=600),
        timeline,
        str(tmp_path),
        clock=clock,
    )
    poller = ModbusPoller.from_config(cfg)

    def cycle(seconds=5.0):
        clock.now += seconds
        poller.poll_once()
        monitor.evaluate(poller.snapshot())
        return {code for code, _ in monitor.active}

    yield {"cycle": cycle, "monitor": monitor, "timeline": timeline, "sim": simulator}
    poller.close()


def inject(rig, fault, on=True):
    peers.simulator_command(rig["sim"], "fault", fault, "on" if on else "off")


@pytest.mark.parametrize(
    "fault, code, device, category",
    [
        ("vehicle_failure", "vehicle_failure", "evse", "charging"),
        ("lost_phase", "phase_lost", "meter", "hardware"),
        ("overvoltage", "voltage_out_of_band", "meter", "hardware"),
        ("frequency", "frequency_out_of_band", "meter", "hardware"),
    ],
)
def test_fault_raised_after_its_debounce_and_cleared_after_its_own(rig, fault, code, device, category):
    cycle = rig["cycle"]
    assert code not in cycle()
    inject(rig, fault)
    assert code not in cycle(1.0)  # seen once: not yet raised
    assert code in cycle(10.0)  # held for raise_after_s (10 s)
    (raised,) = [e for e in rig["timeline"].to_list() if e["code"] == code]
    assert raised["kind"] == "raised" and raised["device"] == device and raised["category"] == category
    inject(rig, fault, on=False)
    assert code in cycle(1.0)  # gone once: still active until clear_after_s
    assert code not in cycle(30.0)
    assert [e["kind"] for e in rig["timeline"].to_list() if e["code"] == code] == ["raised", "cleared"]


def test_a_flickering_condition_does_not_flap(rig):
    cycle = rig["cycle"]
    inject(rig, "lost_phase")
    cycle(1.0)
    assert "phase_lost" in cycle(10.0)
    for _ in range(4):  # the phase comes and goes faster than clear_after_s
        inject(rig, "lost_phase", on=False)
        cycle(10.0)
        inject(rig, "lost_phase")
        assert "phase_lost" in cycle(10.0)
    assert [e["kind"] for e in rig["timeline"].to_list() if e["code"] == "phase_lost"] == ["raised"]


def test_unreachable_after_n_cycles_and_recovers_by_itself(rig):
    cycle = rig["cycle"]
    inject(rig, "meter_silent")
    assert "device_unreachable" not in cycle()
    assert "device_unreachable" in cycle()  # unreachable_after_cycles = 2
    (fault,) = rig["monitor"].active_list()
    assert fault["device"] == "meter" and "has not answered for 2 cycles" in fault["message"]
    inject(rig, "meter_silent", on=False)
    cycle()
    assert "device_unreachable" not in cycle(30.0)


def test_cannot_charge_when_the_car_waits_and_no_current_flows(rig):
    cycle = rig["cycle"]
    inject(rig, "no_current")
    assert "cannot_charge" not in cycle()  # the condition starts here
    assert "cannot_charge" not in cycle(100.0)
    assert "cannot_charge" in cycle(25.0)  # held for cannot_charge_after_s (120 s)
    (fault,) = [f for f in rig["monitor"].active_list() if f["code"] == "cannot_charge"]
    assert "charging enabled at 16 A, but the meter measures no current (at most 0.00 A" in fault["message"]
    inject(rig, "no_current", on=False)
    # Current flows again (or the car leaves): cleared once that has held for clear_after_s. The
    # simulated session may be in its 8 s "vehicle present, not yet charging" phase: wait it out.
    peers.wait_for(lambda: "cannot_charge" not in cycle(31.0), 20, "cannot_charge to clear", interval=0.2)


def test_firmware_change_is_noticed_across_a_restart(tmp_path, rig):
    cycle = rig["cycle"]
    assert "firmware_changed" not in cycle()
    inject(rig, "firmware_update")
    # The firmware version is a slow value: read within the next 12 cycles.
    assert any("firmware_changed" in cycle() for _ in range(12))
    assert "changed from 18 to 19" in rig["monitor"].active_list()[0]["message"]
    assert "firmware_changed" in cycle(300.0)  # still within firmware_change_hold_s (600 s)
    assert "firmware_changed" not in cycle(301.0)  # then it has been noticed long enough
    # A new monitor (an agent restart) remembers 19 and does not raise again ...
    fresh = FaultMonitor(FaultConfig(), Timeline(), str(tmp_path))
    assert fresh.conditions({"evse": device("charge_controller", iec_state="A", firmware_version=19)}) == {}
    # ... but an update while it was down is a change.
    changed = fresh.conditions({"evse": device("charge_controller", iec_state="A", firmware_version=20)})
    assert "changed from 19 to 20" in changed[("firmware_changed", "evse")].detail
