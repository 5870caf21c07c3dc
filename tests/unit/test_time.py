"""Time on a box that runs for years: daylight saving time, NTP steps, a boot without a real-time clock.

The daemon runs in this process with its wall clock injected (time.time moved by the test, the zone set to
Europe/Berlin); its monotonic clock stays true. libfaketime was tried as the seam: with any offset, even
with FAKETIME_DONT_FAKE_MONOTONIC=1, Python's time.sleep fails with EINVAL under it (clock_nanosleep on the
monotonic clock), which stops a poll that pauses between requests; an injected clock is the surer seam.
The peers are real: the simulator over Modbus TCP, the reference intake over HTTPS.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.service.jobs import Jobs

POLL_S = 0.5
DST_END_2026 = datetime(2026, 10, 25, 1, 0, tzinfo=UTC).timestamp()  # Europe/Berlin: 03:00 -> 02:00


class WallClock:
    """time.time for the whole process, as the true time plus an offset the test steps."""

    def __init__(self, mocker):
        self.offset, self._true = 0.0, time.time
        mocker.patch("time.time", lambda: self._true() + self.offset)

    def set_to(self, wall: float) -> None:
        self.offset = wall - self._true()


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def test_periodic_jobs_count_the_monotonic_clock_and_never_burst():
    now = [0.0]
    jobs = Jobs(clock=lambda: now[0])
    job = jobs.every(5, "poll", lambda: None)
    for _ in range(3600 * 2):  # an hour in half-second steps: ~720 runs of a 5 s job, whatever the wall clock
        jobs.run_pending()
        now[0] += 0.5
    assert 719 <= job.runs <= 721
    before, now[0] = job.runs, now[0] + 100  # the process was stopped for 100 s: one run, not twenty
    jobs.run_pending()
    jobs.run_pending()
    assert job.runs == before + 1
    assert jobs.alive(1.0) and not (now.__setitem__(0, now[0] + 30) or jobs.alive(10.0))


def test_a_calendar_job_runs_at_its_hour_in_the_configured_zone():
    from zoneinfo import ZoneInfo

    jobs = Jobs(zone="Europe/Berlin")
    jobs.daily_at("03:17", lambda: None)
    (job,) = jobs._calendar.jobs
    # schedule keeps its next run in the system's naive local time; in Berlin that is 03:17, whatever zone
    # the system clock itself is in.
    berlin = job.next_run.astimezone().astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (3, 17)
    assert 0 < job.next_run.timestamp() - time.time() <= 86400 + 3600


@pytest.mark.parametrize("back", [3600.0, 30 * 86400.0])  # NTP an hour back, or a month
@pytest.mark.parametrize("jump", [6 * 3600.0, -3600.0, -400 * 86400.0])
def test_a_clock_step_neither_stalls_nor_reorders_the_outbox(tmp_path, jump, back):
    from agent.config import BackendConfig
    from agent.outbox import Entry, Outbox
    from agent.transports.base import Receipt
    from agent.transports.sender import Sender

    wall = [1_800_000_000.0]
    box = Outbox(tmp_path, clock=lambda: wall[0])
    for rid in ("r1", "r2"):
        box.spool(Entry(report_id=rid, priority="low", on_site=False, created=wall[0]), lambda f: f.write(b"x"))
        wall[0] += jump if rid == "r1" else 0.0  # the clock steps between the two reports
    sent = []

    class Backend:
        name = "https"
        down = True

        def ready(self):
            return True

        def send(self, report_id, bundle):
            from agent.transports.base import DeliveryError

            if self.down:
                raise DeliveryError("backend not reachable")
            sent.append(report_id)
            return Receipt(report_id, f"CASE-{report_id}", "low")

    backend = Backend()
    sender = Sender(
        BackendConfig(url="https://x", retry_base_s=5, retry_max_s=600),
        box,
        [backend],
        clock=lambda: wall[0],
        rng=lambda: 1.0,
    )
    sender.drain()  # the backend is down: the queue waits out the backoff
    wall[0] -= back  # and then the clock goes back: the waits were set at a time now ahead
    backend.down = False
    sender.drain()
    assert sent == ["r1", "r2"], "a report that waits for a clock that went back, or out of order"
    sender.drain()
    assert sent == ["r1", "r2"], "a report sent twice"


def test_events_stamped_before_the_clock_was_set_are_put_right_when_it_steps():
    from agent.watch.timeline import Timeline

    wall, clock_set = [1_700_000_000.0], [False]
    timeline = Timeline(wall=lambda: wall[0], clock_set=lambda: clock_set[0])
    timeline.add("event", "boot", "started with the time of the last shutdown")
    wall[0] += 400 * 86400  # NTP: the real time is 400 days later
    clock_set[0] = True
    assert timeline.clock_stepped(400 * 86400) == 1
    timeline.add("event", "after", "stamped by a set clock")
    assert timeline.clock_stepped(-3600) == 0  # a set clock's stamps were right when made: left alone
    first, second = timeline.to_list()
    assert first["corrected"] and first["wall"] == 1_700_000_000.0 + 400 * 86400
    assert not second["corrected"] and second["clock_set"] is True
    # Each carries its monotonic time and the boot it was read in.
    assert first["boot"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip() and first["mono"] > 0


def test_log_lines_are_stamped_in_utc_and_the_window_reads_any_offset():
    import logging

    from agent.report.sections.logs import stamp_time, window
    from agent.service.logring import UtcFormatter

    record = logging.LogRecord("agent", logging.INFO, __file__, 1, "hello", None, None)
    record.created = DST_END_2026
    record.msecs = 0
    line = UtcFormatter("%(asctime)s %(message)s").format(record)
    assert line == "2026-10-25T01:00:00.000Z hello"
    assert stamp_time(line) == stamp_time("2026-10-25 03:00:00+02:00 fw") == DST_END_2026
    logs = {"agent": [line, "  a wrapped line", "2026-10-25T03:00:00.000Z later"]}
    assert window(logs, DST_END_2026 - 60, DST_END_2026 + 60)["agent"] == [line, "  a wrapped line"]
