"""Fault-triggered reports' limits, on a fake clock: debounce, repeats counted in, per-code interval, daily cap."""

from __future__ import annotations

import threading

from agent.channels.fault_reports import FaultReporter
from agent.config import AutoReportConfig
from agent.watch.faults import Fault


class Clock:
    def __init__(self):
        self.now = 1_795_000_000.0  # a Wednesday, 08:26 UTC

    def __call__(self):
        return self.now


def fault(code="vehicle_failure", severity="critical"):
    return Fault(code, "evse", severity, "charging", "vehicle state E", 0.0, 0.0)


def make(tmp_path, clock, **cfg):
    sent, done = [], threading.Event()

    def submit(request):
        sent.append(request)
        done.set()

    return (
        FaultReporter(
            AutoReportConfig(debounce_s=60, per_code_interval_s=3600, daily_cap=2, **cfg), str(tmp_path), submit, clock
        ),
        sent,
        done,
    )


def test_debounce_and_repeats_counted_into_the_pending_report(tmp_path):
    clock = Clock()
    reporter, sent, done = make(tmp_path, clock)
    reporter.fault_raised(fault())
    reporter.fault_raised(fault(severity="warning"))  # a warning sends nothing and counts for nothing
    reporter.fault_raised(fault())
    reporter.tick()
    assert not sent  # still within the debounce
    clock.now += 61
    reporter.tick()
    assert done.wait(5)
    (request,) = sent
    assert request.reason == "fault" and request.details == {"fault": "vehicle_failure", "device": "evse", "repeats": 1}
    assert "raised 1 more times" in request.description
    assert (
        request.with_faults([{"code": "vehicle_failure", "severity": "critical", "category": "charging"}]).priority
        == "medium"
    )


def test_rate_limit_and_daily_cap_hold_across_a_restart(tmp_path):
    clock = Clock()
    reporter, sent, _ = make(tmp_path, clock)
    for code in ("vehicle_failure", "phase_lost"):
        reporter.fault_raised(fault(code))
    clock.now += 61
    reporter.tick()
    reporter.fault_raised(fault("vehicle_failure"))  # within the hour: suppressed
    again, sent2, _ = make(tmp_path, clock)  # a restart reads the persisted limits
    again.fault_raised(fault("cannot_charge"))  # a new code, but the daily cap (2) is reached
    assert again.to_dict() == {"pending": [], "sent_today": 2, "suppressed": 2}
    clock.now += 86400  # the next day, and well past the interval
    again.fault_raised(fault("vehicle_failure"))  # never cleared since it was reported: the same fault
    assert again.to_dict()["pending"] == []
    again.fault_cleared(fault("vehicle_failure"))
    again.fault_raised(fault("vehicle_failure"))  # cleared and back: a new fault, a new report
    assert again.to_dict()["pending"] == ["vehicle_failure"]


def test_a_burst_of_faults_cannot_pass_the_daily_cap(tmp_path):
    clock = Clock()
    reporter, sent, _ = make(tmp_path, clock)  # daily_cap=2
    threads = [threading.Thread(target=reporter.fault_raised, args=(fault(f"code_{i}"),)) for i in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clock.now += 61
    reporter.tick()
    reporter.stop()  # lets the reports its worker took finish, then ends its thread
    assert len(sent) == 2 and reporter.to_dict() == {"pending": [], "sent_today": 2, "suppressed": 5}


def test_a_decided_report_survives_a_restart_during_its_debounce(tmp_path):
    clock = Clock()
    reporter, _, _ = make(tmp_path, clock)
    reporter.fault_raised(fault("device_unreachable", severity="error"))
    again, sent, done = make(tmp_path, clock)  # the agent restarts within the debounce
    again.fault_raised(fault("device_unreachable", severity="error"))  # raised again at start: counted in
    clock.now += 61
    again.tick()
    assert done.wait(5)
    (request,) = sent
    assert request.details["fault"] == "device_unreachable" and request.details["repeats"] == 1
    third, sent3, _ = make(tmp_path, clock)  # and again, days later, still not answering: no new report
    clock.now += 3 * 86400
    third.fault_raised(fault("device_unreachable", severity="error"))
    assert third.to_dict()["pending"] == [] and not sent3
