"""The daemon: the box's parts (agent/service/wiring.py) run: the main loop of periodic jobs on the monotonic
clock, systemd's readiness and watchdog, and the orderly stop within systemd's deadline.

The main loop polls, evaluates fault rules, publishes status and feeds the watchdog; everything else runs on the
threads the parts own.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from agent import __version__
from agent.channels.control import ControlServer
from agent.channels.events import take_queued
from agent.service.jobs import Jobs
from agent.service.wiring import Parts, control_server, ocpp_delegate
from agent.transports.sender import delivery_warnings, fingerprint

log = logging.getLogger(__name__)
STOP_DEADLINE_S = 4.0  # systemd's stop must not need SIGKILL; threads get this long to finish
STATUS_INTERVAL_S = 30
ALIVE_WITHIN_S = 10.0  # the 1 s jobs must have run this lately for the watchdog to be fed
REPROBE_AT = "03:17"  # local time of the box's zone: a quiet hour for a wallbox's broker link


def guarded(job):
    """JOB for the main loop: an error in it is logged (once per kind in a row) and the loop goes on."""
    last: list[str] = [""]

    def run():
        try:
            job()
            last[0] = ""
        except Exception as exc:  # a dead daemon helps nobody: the next run of the job may well work
            what = f"{type(exc).__name__}: {exc}"
            if what != last[0]:
                log.error("the %s job failed: %s", getattr(job, "__name__", "periodic"), what)
                log.debug("job failure", exc_info=True)
            last[0] = what

    return run


def stop_parts(d: Parts, control: ControlServer, sending: threading.Thread) -> None:
    """Every part stopped, each thread ended within STOP_DEADLINE_S in all (systemd must not need SIGKILL):
    the ways in first, then what makes and sends reports, the broker, the recorder's last writes."""
    d.notifier.stopping()
    log.info("stopping")
    control.stop()
    for part in (d.web, d.commands, d.button, d.ocpp):
        if part is not None:
            part.stop()
    d.send_wake.set()
    deadline = time.monotonic() + STOP_DEADLINE_S
    for stop in (
        d.health.stop,
        d.fault_calls.stop,
        d.auto_reports.stop,
        d.desk.stop,
        sending.join,
        d.conversation.stop,
    ):
        stop(max(0.0, deadline - time.monotonic()))
    if d.mqtt:
        d.mqtt.stop()
    if d.recorder:
        d.recorder.stop(max(0.5, deadline - time.monotonic()))
    d.poller.close()
    logging.getLogger().removeHandler(d.log_ring)


def main_jobs(d: Parts) -> Jobs:
    """The main loop's jobs: what keeps the box alive on the monotonic clock, the daily ones in its zone."""
    jobs = Jobs(zone=d.cfg.timezone)
    if d.recorder:
        jobs.every(1, "recorder", guarded(d.recorder.tick))
    jobs.every(d.cfg.poll.interval_s, "poll", guarded(d.poll), first_in=d.cfg.poll.interval_s)
    jobs.every(STATUS_INTERVAL_S, "status", guarded(d.publish_status))
    jobs.every(1, "fault_reports", guarded(d.auto_reports.tick))
    jobs.every(10, "onsite", guarded(d.onsite.state))  # ends an expired on-site session on time
    jobs.every(10, "clock", guarded(lambda: clock_check(d)))
    if d.mqtt:  # a protocol fallback is not for ever: MQTT 5 is tried again once a day, at night
        from agent.transports.mqtt import reprobe

        jobs.daily_at(REPROBE_AT, guarded(lambda: reprobe(d.mqtt)))
    return jobs


def clock_check(d: Parts) -> None:
    """A step of the wall clock: written down, earlier stamps put right, and who waited for the clock woken."""
    jump = d.security.check_clock()
    if jump is not None:
        fixed = d.timeline.clock_stepped(jump)
        d.timeline.add(
            "event",
            "clock_step",
            f"the clock stepped {jump:+.0f} s"
            + (f"; {fixed} events stamped before it was set were put right" if fixed else ""),
        )
        d.health.wake()  # its clock_synced is news now
        d.send_wake.set()  # a report that waited for the clock may go now


class Daemon(Parts):
    """The box's parts, running."""

    def run(self, handle_signals: bool = True) -> int:
        from agent.service.memory import settle

        settle()  # before the threads start

        if handle_signals:  # only the main thread may; tests run a daemon on another one
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop_event.set())
        self.ocpp = ocpp_delegate(self)
        control = control_server(self, self.ocpp)
        sending = threading.Thread(
            target=self.sender.run, args=(self.stop_event, self.send_wake), name="send", daemon=True
        )
        if self.recorder:  # first: the last stop's event and the timeline and history from before it
            self.recorder.start(catch_abort=handle_signals)
        self.fault_calls.start()
        for event in take_queued(self.cfg.state_dir):
            self.events.apply(event)
        self.outbox.prepare_for_start(fingerprint(self.cfg), self.cfg.outbox.startup_jitter_s)
        self.jobs = jobs = main_jobs(self)
        self.security.config_loaded(self.cfg)
        self.poll()
        control.start()
        self.desk.start()
        sending.start()
        self.health.start()
        self.conversation.start()
        self.start_channels()  # before the broker: a command that comes at once finds its worker
        if self.mqtt:
            self.mqtt.start()
        waiting = len(self.outbox.pending())
        log.info(
            "diag-agent %s running: %d devices, %d reports waiting", __version__, len(self.poller.devices), waiting
        )
        for warning in delivery_warnings(self.cfg):
            log.warning("configuration: %s", warning)
        self.notifier.ready()
        tick = min(1.0, self.notifier.watchdog_interval or 1.0)
        try:
            while not self.stop_event.is_set():
                jobs.run_pending()
                if jobs.alive(ALIVE_WITHIN_S):  # fed only while jobs really run, not while the loop just turns
                    self.notifier.watchdog()
                self.stop_event.wait(min(max(jobs.idle_seconds(), 0.05), tick))
        finally:
            stop_parts(self, control, sending)
        return 0
