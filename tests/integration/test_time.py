"""Time on a box that runs for years: daylight saving time, NTP steps, a boot without a real-time clock.

The daemon runs in this process with its wall clock injected (time.time moved by the test, the zone set to
Europe/Berlin); its monotonic clock stays true. libfaketime was tried as the seam: with any offset, even
with FAKETIME_DONT_FAKE_MONOTONIC=1, Python's time.sleep fails with EINVAL under it (clock_nanosleep on the
monotonic clock), which stops a poll that pauses between requests; an injected clock is the surer seam.
The peers are real: the simulator over Modbus TCP, the reference intake over HTTPS.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rigs import peers
from tests.unit.test_time import DST_END_2026, POLL_S, WallClock, berlin  # noqa: F401  (fixtures and helpers shared with that tier)


def future_cert(certs_folder, ca_pem: str):
    """A server certificate valid from tomorrow: what a box whose clock is behind sees."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", not_before=datetime.now(UTC) + timedelta(days=1))
    paths = {
        "ca": certs_folder / "future-ca.pem",
        "cert": certs_folder / "future.pem",
        "key": certs_folder / "future.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    for i, pem in enumerate(leaf.cert_chain_pems):
        pem.write_to_path(str(paths["cert"]), append=i > 0)
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    return paths


def polls_during(daemon, seconds: float) -> int:
    """How often the poll job ran in SECONDS of true time, with no device fault raised meanwhile."""
    poll = next(p for p in daemon.jobs.periodic if p.name == "poll")
    before, deadline = poll.runs, time.monotonic() + seconds
    while time.monotonic() < deadline:
        device_faults = [f for f in daemon.faults.active_list() if f["device"] != "box"]
        assert device_faults == [], f"a false fault: {device_faults}"
        time.sleep(0.25)
    return poll.runs - before


def delivered(daemon, subject: str) -> bool:
    return any(e.delivered for e in daemon.outbox.entries() if e.extra.get("subject") == subject)


def assert_polling_on_time(daemon, seconds: float, what: str) -> None:
    ran, expected = polls_during(daemon, seconds), seconds / POLL_S
    assert 0.7 * expected <= ran <= expected + 2, f"{what}: {ran} polls in {seconds:g} s, expected ~{expected:.0f}"


def test_daemon_through_an_old_boot_time_dst_and_ntp_steps(
    tmp_path, simulator, sim_bus, certs, make_config, berlin, mocker, cli
):
    from agent import config as config_module
    from agent.service.daemon import Daemon

    peers.simulator_command(simulator, "hold", "on")
    port = peers.free_port()
    tls = future_cert(tmp_path, certs["ca"])
    intake = peers.start_intake(tmp_path / "intake", str(tls["cert"]), str(tls["key"]), extra=["--port", str(port)])
    both_cas = tmp_path / "cas.pem"
    both_cas.write_text(tls["ca"].read_text() + Path(certs["ca"]).read_text())
    cfg_path = make_config(
        buses=[sim_bus],
        devices=peers.sim_devices(),
        poll_interval_s=POLL_S,
        backend={
            "url": f"https://127.0.0.1:{port}/api/v1/reports",
            "ca_file": str(both_cas),
            "retry_base_s": 0.5,
            "retry_max_s": 2.0,
        },
        extra={
            "report": {"wait_for_case_s": 0},
            "timezone": "Europe/Berlin",
            "web": {"enabled": False},
            "button": {"enabled": False},
        },
    )
    wall = WallClock(mocker)
    wall.set_to(time.time() - 400 * 86400)  # a Pi without a real-time clock boots with its last shutdown's time
    daemon = Daemon(config_module.load(cfg_path))
    thread = threading.Thread(target=daemon.run, kwargs={"handle_signals": False}, daemon=True)
    thread.start()
    try:
        peers.wait_for(lambda: daemon.jobs is not None, 10, "the main loop")
        assert_polling_on_time(daemon, 4, "at the old boot time")

        # A report made before NTP: the backend's certificate is "not yet valid" by the box's clock. It waits
        # for the clock, counting no attempt, and is not parked.
        first = cli("report", "--config", cfg_path, *peers.report_argv("made before the clock was set"))
        assert first.returncode == 3, first.stdout + first.stderr
        waiting = peers.wait_for(
            lambda: (r := daemon.outbox.entries()) and r[0].last_error and r[0], 20, "the report's first try"
        )
        assert waiting.state == "accepted" and waiting.attempts == 0 and "not yet valid" in waiting.last_error

        wall.offset = 0.0  # NTP syncs: +400 days; the backend's certificate is valid by the box's clock now
        intake.stop()
        intake = peers.start_intake(tmp_path / "intake", certs["cert"], certs["key"], extra=["--port", str(port)])
        peers.wait_for(lambda: delivered(daemon, "made before the clock was set"), 40, "delivery once the clock is set")
        assert_polling_on_time(daemon, 3, "after the step to now")

        wall.set_to(DST_END_2026 - 10)  # summer time ends in Berlin ten seconds from now: 03:00 becomes 02:00
        assert time.localtime(time.time()).tm_isdst == 1
        assert_polling_on_time(daemon, 20, "across the end of summer time")
        assert time.localtime(time.time()).tm_isdst == 0
        wall.set_to(datetime(2027, 3, 28, 0, 59, 50, tzinfo=UTC).timestamp())  # ... and begins again
        assert_polling_on_time(daemon, 20, "across the start of summer time")

        # Each phase outlasts the daemon's clock check (10 s), so each step is seen as itself.
        wall.offset += 6 * 3600  # NTP steps forward six hours
        assert_polling_on_time(daemon, 11, "after a step of +6 h")
        wall.offset -= 3600  # ... and back one hour
        assert_polling_on_time(daemon, 11, "after a step of -1 h")

        second = cli("report", "--config", cfg_path, *peers.report_argv("sent after the steps"))
        assert second.returncode in (0, 3), second.stdout + second.stderr
        peers.wait_for(lambda: delivered(daemon, "sent after the steps"), 30, "the second delivery")
        # The box may have sent a fault report of its own (the backend was away while the intake restarted):
        # every delivered report reached the intake once, none twice.
        cases = peers.intake_cases(tmp_path / "intake" / "intake")
        stored = sorted(a["report_id"] for c in cases for a in c["articles"] if a["by"] == "box")
        sent = sorted(e.report_id for e in daemon.outbox.entries() if e.delivered)
        assert stored == sent, "a report lost or sent twice"

        timeline = [e for e in daemon.timeline.to_list() if not e.get("earlier_run")]
        monos = [e["mono"] for e in timeline]
        assert monos == sorted(monos), "the timeline is out of order"
        steps = [e for e in timeline if e["code"] == "clock_step"]
        assert [round(float(e["message"].split()[3].rstrip("s")) / 3600) for e in steps][-2:] == [6, -1], steps
        assert len(steps) >= 4, [e["message"] for e in steps]  # steps closer than the 10 s check are seen as one
        # Every stamp the agent writes is UTC, whatever the zone: the log ring's lines end their stamp in Z.
        assert daemon.log_ring.tail() and all(
            line[:24].endswith("Z") for line in daemon.log_ring.tail() if line[:4].isdigit()
        )
    finally:
        daemon.stop_event.set()
        thread.join(10)
        intake.stop()


def test_the_watchdog_is_fed_while_jobs_run_and_starves_when_they_stop(
    tmp_path, simulator, sim_bus, make_config, mocker
):
    from agent import config as config_module
    from agent.service.daemon import Daemon

    cfg = config_module.load(
        make_config(
            buses=[sim_bus],
            devices=peers.sim_devices(),
            poll_interval_s=POLL_S,
            extra={"web": {"enabled": False}, "button": {"enabled": False}},
        )
    )
    fed = []
    notifier = mocker.Mock(watchdog_interval=None, watchdog=lambda: fed.append(time.monotonic()))
    daemon = Daemon(cfg, notifier=notifier)
    thread = threading.Thread(target=daemon.run, kwargs={"handle_signals": False}, daemon=True)
    wall = time.time
    offset = [0.0]
    mocker.patch("time.time", lambda: wall() + offset[0])  # the wall clock, for the whole process
    thread.start()
    try:
        peers.wait_for(lambda: len(fed) > 3, 10, "the watchdog fed")
        for step in (6 * 3600, -3600, -400 * 86400):  # NTP steps and a clock set back to an old time
            offset[0] += step
            seen = len(fed)
            peers.wait_for(lambda: len(fed) > seen + 2, 5, f"the watchdog fed after a step of {step:+d} s")
        stuck = threading.Event()
        daemon.poller.poll_once = lambda: stuck.wait(30)  # a poll that hangs: the loop truly stops
        peers.wait_for(lambda: time.monotonic() - fed[-1] > 3, 15, "the watchdog to starve")
        starved = len(fed)
        time.sleep(1.0)
        assert len(fed) == starved
        stuck.set()
        peers.wait_for(lambda: len(fed) > starved, 10, "the watchdog fed again")
    finally:
        daemon.stop_event.set()
        thread.join(10)


def test_soak_at_1_hz_with_reports_and_clock_steps(request):
    """The soak (scripts/soak.py): a minute here, two hours with --long; its figures go to the log."""
    import json as json_
    import subprocess
    import sys

    minutes = 120 if request.config.getoption("--long") else 1.0
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.soak",
            "--minutes",
            str(minutes),
            "--period",
            "20",
            "--report-every",
            "25",
            "--step-every",
            "12",
        ],
        capture_output=True,
        text=True,
        timeout=minutes * 60 + 120,
    )
    lines = [json_.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines and lines[-1].get("summary"), out.stdout + out.stderr
    summary = lines[-1]
    print(out.stdout)
    assert summary["polls_per_min_min"] >= 45 and summary["polls_per_min_max"] <= 63, summary  # 1 Hz, no burst
    assert summary["delivered"] >= 2 and summary["waiting"] == 0 and summary["clock_steps"] >= 4, summary
    assert summary["log_tracebacks"] == 0
