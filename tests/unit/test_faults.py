"""Device fault rules: raised and cleared through the simulator's fault injection, with a debounce."""

from __future__ import annotations

import pytest

from agent.config import FaultConfig
from agent.watch.faults import FaultMonitor
from agent.watch.timeline import Timeline


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def device(kind: str, reachable: bool = True, **values):
    """One device as the poller's snapshot has it (agent/collect DeviceState)."""
    from agent.collect import MAINS_VALUES, DeviceState, Reading

    iec_state = values.pop("iec_state", None)
    offers = set(MAINS_VALUES) if kind == "meter" else {"vehicle_state", "actual_current"}
    return DeviceState(
        name=kind,
        model=kind,
        kind=kind,
        profile=kind,
        unit=1,
        bus="b",
        reachable=reachable,
        consecutive_failures=0 if reachable else 5,
        last_error=None if reachable else "no answer",
        answer=None if reachable else "timeout",
        offers=frozenset(offers | set(values)),
        values={k: Reading(v, "", 0.0, 0.0) for k, v in values.items()},
        iec_state=iec_state,
    )


@pytest.mark.parametrize("amps, fault", [(0.35, False), (0.06, False), (0.0, True), (0.04, True)])
def test_a_car_drawing_any_current_the_meter_resolves_is_charging(amps, fault):
    from agent.watch.judge import judge_devices

    snapshot = {
        "meter": device(
            "meter",
            voltage_l1=230.0,
            voltage_l2=230.0,
            voltage_l3=230.0,
            current_l1=amps,
            current_l2=0.0,
            current_l3=0.0,
        ),
        "evse": device("charge_controller", iec_state="C", actual_current=16),
    }
    (charging,) = [j for j in judge_devices(snapshot, FaultConfig()) if j.topic == "charging"]
    assert (charging.fault == "cannot_charge") is fault, charging.detail
    if fault:
        assert f"at most {amps:.2f} A" in charging.detail  # says what was measured


@pytest.mark.parametrize("silent, priority", [("evse", "medium"), ("meter", "low")])
def test_a_silent_charge_controller_is_a_charging_problem_and_a_silent_meter_stays_low(tmp_path, silent, priority):
    from agent.request import ReportRequest

    clock = Clock()
    monitor = FaultMonitor(FaultConfig(unreachable_after_cycles=1), Timeline(), str(tmp_path), clock=clock)
    snapshot = {
        "meter": device("meter", reachable=silent != "meter", voltage_l1=230.0, voltage_l2=230.0, voltage_l3=230.0),
        "evse": device("charge_controller", reachable=silent != "evse", iec_state="A", actual_current=0),
    }
    monitor.evaluate(snapshot)
    (fault,) = [f for f in monitor.active_list() if f["code"] == "device_unreachable"]
    assert fault["device"] == silent
    assert ReportRequest(subject="x").with_faults(monitor.active_list()).priority == priority
