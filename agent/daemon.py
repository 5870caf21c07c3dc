"""The daemon: periodic jobs on the main loop, reports built and sent on their own threads."""

from __future__ import annotations

import logging
import os
import queue
import random
import signal
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from dataclasses import replace

from agent import __version__
from agent.autoreport import FaultReporter
from agent.collect.modbus import ModbusPoller
from agent.config import AgentConfig
from agent.checks import run_checks, to_dict
from agent.control import ControlServer
from agent.events import check_event, take_queued
from agent.faults import FaultMonitor
from agent.health import collect_health, release_cache
from agent.logbuffer import RingHandler
from agent.redact import SecretFilter
from agent.onsite import OnSite
from agent.outbox import Outbox
from agent.reporting import make_report, report_sections
from agent.request import ReportRequest
from agent.sdnotify import Notifier
from agent.sender import Sender
from agent.timeline import Timeline

log = logging.getLogger(__name__)
STOP_DEADLINE_S = 4.0  # systemd's stop must not need SIGKILL; threads get this long to finish
STATUS_INTERVAL_S = 30


def control_socket_path(cfg: AgentConfig) -> str:
    return str(Path(cfg.state_dir) / "control.sock")


def outbox_dir(cfg: AgentConfig) -> Path:
    return Path(cfg.state_dir) / "outbox"


def request_from_args(args: dict, reason: str) -> ReportRequest:
    """A ReportRequest from untrusted fields; ValueError names the field that is wrong."""
    limits = {"subject": 200, "description": 2000, "email": 254, "case_ref": 64}
    fields: dict = {}
    for name, limit in limits.items():
        value = args.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{name}: expected text of at most {limit} characters")
        fields[name] = value.strip()
    on_site = args.get("on_site", False)
    if not isinstance(on_site, bool):
        raise ValueError("on_site: expected true or false")
    return ReportRequest(reason=reason, on_site=on_site, **fields)


def background_priority() -> None:
    """Lower this thread's CPU and I/O priority: a report must never starve the charge controller."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, 10)
    except OSError as exc:
        log.debug("cannot lower the CPU priority: %s", exc)
    # ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_CLASS_IDLE << 13); syscall numbers differ per architecture.
    number = {"x86_64": 251, "aarch64": 30, "armv7l": 314, "armv6l": 314}.get(os.uname().machine)
    if number is not None:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).syscall(number, 1, tid, 3 << 13) != 0:
            log.debug("cannot set the idle I/O class (errno %d)", ctypes.get_errno())


class Daemon:
    def __init__(self, cfg: AgentConfig, notifier: Notifier | None = None, pin_factory=None):
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.pin_factory = pin_factory  # gpiozero's; tests hand in the mock one
        self.poller = ModbusPoller.from_config(cfg, with_history=True)
        Path(cfg.state_dir).mkdir(parents=True, exist_ok=True, mode=0o750)
        self.timeline = Timeline()
        self.auto_reports = FaultReporter(cfg.auto_report, cfg.state_dir, self.submit)
        self.faults = FaultMonitor(cfg.faults, self.timeline, cfg.state_dir, health=cfg.health,
                                   on_raise=self.auto_reports.fault_raised)
        self.onsite = OnSite(cfg.state_dir, cfg.onsite.duration_s, self.timeline, on_change=self._onsite_changed)
        self.releases = release_cache(cfg)
        # The agent's own log tail for reports, scrubbed like every other log line.
        self.log_ring = RingHandler(cfg.report.agent_log_lines)
        self.log_ring.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.log_ring.addFilter(SecretFilter(cfg.secrets()))
        logging.getLogger().addHandler(self.log_ring)
        self.health: dict | None = None  # the latest health snapshot
        self._health_wake = threading.Event()
        self._health_lock = threading.Lock()  # one collection at a time: hooks never run twice at once
        self.outbox = Outbox(outbox_dir(cfg))
        self.stop_event = threading.Event()
        self._send_wake = threading.Event()
        self._requests: queue.Queue[tuple[ReportRequest, Future]] = queue.Queue(maxsize=32)
        self.mqtt = None
        if cfg.mqtt.enabled:
            from agent.mqtt_link import MqttLink

            self.mqtt = MqttLink(cfg.mqtt, cfg.device.serial, on_connected=self._send_wake.set,
                                 on_command=self._cloud_command)
        self.button = self.web = self.commands = None
        self.sender = Sender(cfg, self.outbox, mqtt=self.mqtt, on_delivered=self._delivered)

    @property
    def mqtt_connected(self) -> bool | None:
        return self.mqtt.connected if self.mqtt else None

    # --- jobs on the main loop -------------------------------------------------------------
    def poll(self) -> None:
        self.poller.poll_once()
        self.faults.evaluate(self.poller.snapshot())

    def collect_health(self) -> dict:
        """A fresh health snapshot (hooks, system, network, software); also feeds the health rules."""
        with self._health_lock:
            health = collect_health(self.cfg, self.releases, self.mqtt_connected)
            self.health = health
            self.faults.evaluate_health(health)
        return health

    def _outbox_counts(self) -> dict:
        entries = self.outbox.entries()
        return {"pending": sum(1 for e in entries if not e.delivered and not e.parked),
                "parked": sum(1 for e in entries if e.parked), "delivered": sum(1 for e in entries if e.delivered)}

    def sections(self) -> dict:
        """Every report section: what the running parts know, and health collected now."""
        return report_sections(self.cfg, self.poller.snapshot(), self.collect_health(), self.faults.active_list(),
                               self.timeline.to_list(), self.poller.history_dict(), self.poller.bus_status(),
                               self._outbox_counts(), self.mqtt_connected,
                               self.log_ring.tail())

    def apply_event(self, event: dict) -> None:
        if event["type"] == "fault":
            self.faults.firmware_fault(event["code"], event["message"], event["severity"], event["category"])
        elif event["type"] == "clear":
            if not self.faults.firmware_clear(event["code"]):
                self.timeline.add("event", event["code"], "the firmware cleared a fault that was not active")
        else:
            self.timeline.add("event", "firmware_updated", f"firmware updated to {event['version']}")
            log.info("firmware announced an update to %s", event["version"])
            self._health_wake.set()  # look at the new version now

    def status(self) -> dict:
        delivered = sorted((e for e in self.outbox.entries() if e.delivered), key=lambda e: e.created)
        health = self.health or {}
        return {
            "agent_version": __version__,
            "devices": {name: {"reachable": d["reachable"], "last_error": d["last_error"]}
                        for name, d in self.poller.snapshot().items()},
            "faults": [{k: f[k] for k in ("code", "device", "severity", "category", "message")}
                       for f in self.faults.active_list()],
            "buses": self.poller.bus_status(),
            "onsite": self.onsite.to_dict(),
            "commands": dict(self.commands.counts) if self.commands else None,
            "auto_reports": self.auto_reports.to_dict(),
            "network": health.get("network", {}).get("verdict_text"),
            "software": {k: health["software"][k] for k in ("firmware_version", "verdict")} if health else None,
            "outbox": dict(self._outbox_counts(), evicted=self.outbox.stats().get("evicted", 0)),
            "last_receipt": delivered[-1].receipt if delivered else None,
            "mqtt_connected": bool(self.mqtt_connected),
        }

    def publish_status(self) -> None:
        if self.mqtt:
            self.mqtt.publish_status(self.status())

    def _delivered(self, entry) -> None:
        if self.mqtt:
            self.mqtt.notice("delivered", report_id=entry.report_id, case=entry.receipt["case"],
                             priority=entry.receipt["priority"], via=entry.via, bytes=entry.size)
            self.publish_status()

    def _prepare_outbox(self) -> None:
        """At start: parked reports get another chance under new settings; waiting ones are spread out."""
        unparked = self.outbox.unpark(self.cfg.delivery_fingerprint())
        if unparked:
            log.info("%d parked reports will be tried again: the delivery settings changed", unparked)
        now = time.time()
        for entry in self.outbox.pending():
            # 10,000 boxes back after a power cut must not all send in the same second.
            entry.next_attempt = max(entry.next_attempt, now + random.uniform(0, self.cfg.outbox.startup_jitter_s))
            self.outbox.save(entry)

    # --- worker threads -------------------------------------------------------------------
    def _report_worker(self) -> None:
        background_priority()
        while not self.stop_event.is_set():
            try:
                request, done = self._requests.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                sections = self.sections()
                # One place decides priority (agent/request.py); here it learns what the box knows.
                request = replace(request, on_site=request.on_site or self.onsite.active)
                request = request.with_faults(sections["faults"]["active"])
                entry = make_report(self.cfg, request, sections, self.outbox)
            except Exception as exc:
                log.error("report could not be built: %s", exc)
                log.debug("report build failure", exc_info=True)
                done.set_exception(exc)
                continue
            done.set_result(entry.report_id)
            self._send_wake.set()
            try:
                self.outbox.enforce_quota(self.cfg.outbox.max_bytes, self.cfg.outbox.max_reports)
                if self.mqtt:
                    self.mqtt.notice("accepted", report_id=entry.report_id, priority=entry.priority,
                                     on_site=entry.on_site, bytes=entry.size)
            except OSError as exc:
                log.error("after report %s: %s", entry.report_id, exc)

    def _health_worker(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.collect_health()
            except Exception:  # a collector bug must not end health watching for good
                log.exception("health collection failed")
            self._health_wake.wait(timeout=self.cfg.health.interval_s)
            self._health_wake.clear()

    def _send_worker(self) -> None:
        while not self.stop_event.is_set():
            self._send_wake.clear()
            self.sender.drain()
            pending = self.outbox.pending()
            wait = min((e.next_attempt for e in pending), default=time.time() + 60) - time.time()
            self._send_wake.wait(timeout=min(max(wait, 0.05), 60))

    # --- control socket --------------------------------------------------------------------
    def submit(self, request: ReportRequest, timeout: float = 30.0) -> str:
        """Queue a report off the polling path; return its report id once it is accepted."""
        done: Future = Future()
        try:
            self._requests.put_nowait((request, done))
        except queue.Full:
            raise ValueError("too many reports are being built; try again in a minute") from None
        try:
            return done.result(timeout=timeout)
        except OSError as exc:  # a full disk, a read-only state folder: say so, plainly
            raise ValueError(f"the report could not be stored in {self.outbox.folder}: "
                             f"{exc.strerror or exc}") from None

    def _cmd_report(self, args: dict) -> dict:
        request = request_from_args(args, reason=str(args.get("reason", "cli"))[:20])
        report_id = self.submit(request)
        wait = float(args.get("wait_s", self.cfg.report.wait_for_case_s))
        entry = self.sender.wait_for(report_id, timeout=max(0.0, min(wait, 300.0)))
        return {"ok": True, "report_id": report_id, "priority": entry.priority if entry else request.priority,
                "receipt": entry.receipt if entry else None,
                "error": entry.last_error if entry and not entry.delivered else None}

    def _cmd_status(self, args: dict) -> dict:
        return {"ok": True, **self.status()}

    def _cmd_check(self, args: dict) -> dict:
        checks = run_checks(self.cfg, self.poller.snapshot(), self.collect_health(), self.faults.active_list(),
                            self._outbox_counts(), self.mqtt_connected)
        return {"ok": True, **to_dict(checks)}

    def _cmd_event(self, args: dict) -> dict:
        self.apply_event(check_event(args))
        return {"ok": True}

    # --- channels: on-site mode, the button, the local page, cloud commands -----------------
    def _onsite_changed(self, state) -> None:
        if self.button is not None:
            self.button.show_onsite(state.on)
        self.publish_status()

    def _button_report(self) -> None:
        request = ReportRequest(reason="button", subject="Report from the button on the box",
                                description="The installer held the button on the box to send a report.")
        if self.button is not None:
            self.button.show_sending()
        try:
            report_id = self.submit(request)
            entry = self.sender.wait_for(report_id, self.cfg.report.wait_for_case_s)
            delivered = bool(entry and entry.delivered)
        except (ValueError, TimeoutError) as exc:
            log.error("the button's report could not be made: %s", exc)
            delivered = False
        if self.button is not None:
            self.button.show_result(delivered)

    def web_status(self) -> dict:
        status = self.status()
        status["faults"] = [{k: f[k] for k in ("code", "device", "severity", "message")} for f in status["faults"]]
        if self.health:
            checks = to_dict(run_checks(self.cfg, self.poller.snapshot(), self.health, self.faults.active_list(),
                                        self._outbox_counts(), self.mqtt_connected))
            status["check"] = {"result": checks["result"], "counts": checks["counts"]}
        return status

    def request_report(self, fields: dict, reason: str) -> str:
        return self.submit(request_from_args(fields, reason))

    def report_state(self, report_id: str) -> dict | None:
        e = self.outbox.load(report_id)
        if e is None:
            return None
        stage = "delivered" if e.delivered else "parked" if e.parked else "sending"
        return {"report_id": e.report_id, "stage": stage, "case": (e.receipt or {}).get("case"),
                "priority": e.priority, "error": e.last_error, "attempts": e.attempts}

    def bundle_path(self, report_id: str) -> Path | None:
        path = self.outbox.bundle_path(report_id)
        return path if self.outbox.load(report_id) is not None and path.exists() else None

    def set_onsite(self, on: bool, channel: str) -> dict:
        self.onsite.set(on, channel)
        return self.onsite.to_dict()

    def list_reports(self) -> list[dict]:
        out = []
        for e in sorted(self.outbox.entries(), key=lambda e: e.created, reverse=True):
            state = f"case {e.receipt['case']}" if e.delivered else "refused" if e.parked else "waiting"
            out.append({"report_id": e.report_id, "created": e.created, "subject": e.extra.get("subject", ""),
                        "priority": e.priority, "on_site": e.on_site, "state": state})
        return out

    def _cloud_command(self, payload: bytes, properties) -> None:
        """From paho's network thread: hand over, never block it."""
        if self.commands is not None:
            self.commands.offer(payload, properties)

    def _cmd_onsite(self, args: dict) -> dict:
        action = args.get("action")
        if action in ("on", "off"):
            self.onsite.set(action == "on", "cli")
        elif action != "status":
            raise ValueError("action: expected on, off or status")
        return {"ok": True, "onsite": self.onsite.to_dict()}

    def _start_channels(self) -> None:
        if self.cfg.button.enabled:
            from agent.button import ButtonPanel

            self.button = ButtonPanel(self.cfg.button, lambda: self.onsite.toggle("button"), self._button_report,
                                      self.pin_factory)
            self.button.show_onsite(self.onsite.active)
        if self.cfg.web.enabled:
            from agent.web import WebServer

            try:
                self.web = WebServer(self.cfg.web, self)
                self.web.start()
            except OSError as exc:
                log.error("the local page cannot listen on %s:%d: %s", self.cfg.web.host, self.cfg.web.port,
                          exc.strerror)
        if self.mqtt is not None:
            from agent.commands import CommandWorker

            self.commands = CommandWorker(self.cfg, self)
            self.commands.start()

    def _stop_channels(self) -> None:
        for part in (self.web, self.commands):
            if part is not None:
                part.stop()
        if self.button is not None:
            self.button.close()

    # --- the main loop ---------------------------------------------------------------------
    def run(self, handle_signals: bool = True) -> int:
        import schedule

        if handle_signals:  # only the main thread may; tests run a daemon on another one
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop_event.set())
        control = ControlServer(control_socket_path(self.cfg),
                                {"report": self._cmd_report, "status": self._cmd_status, "check": self._cmd_check,
                                 "event": self._cmd_event, "onsite": self._cmd_onsite,
                                 "ping": lambda a: {"ok": True, "pid": os.getpid()}})
        workers = [threading.Thread(target=self._report_worker, name="report", daemon=True),
                   threading.Thread(target=self._send_worker, name="send", daemon=True),
                   threading.Thread(target=self._health_worker, name="health", daemon=True)]
        for event in take_queued(self.cfg.state_dir):
            self.apply_event(event)
        self._prepare_outbox()
        jobs = schedule.Scheduler()
        jobs.every(self.cfg.poll.interval_s).seconds.do(self.poll)
        jobs.every(STATUS_INTERVAL_S).seconds.do(self.publish_status)
        jobs.every(1).seconds.do(self.auto_reports.tick)
        jobs.every(10).seconds.do(self.onsite.state)  # ends an expired on-site session on time
        self.poll()
        control.start()
        for w in workers:
            w.start()
        if self.mqtt:
            self.mqtt.start()
        self._start_channels()
        log.info("diag-agent %s running: %d devices, %d reports waiting in the outbox", __version__,
                 len(self.poller.devices), len(self.outbox.pending()))
        self.notifier.ready()
        tick = min(1.0, self.notifier.watchdog_interval or 1.0)
        try:
            while not self.stop_event.is_set():
                jobs.run_pending()
                # The watchdog is fed from this loop, so a hung job is caught by systemd.
                self.notifier.watchdog()
                idle = jobs.idle_seconds
                self.stop_event.wait(min(max(idle if idle is not None else tick, 0.05), tick))
        finally:
            self.notifier.stopping()
            log.info("stopping")
            control.stop()
            self._stop_channels()
            self._send_wake.set()
            self._health_wake.set()
            deadline = time.monotonic() + STOP_DEADLINE_S
            for w in workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
            if self.mqtt:
                self.mqtt.stop()
            self.poller.close()
            logging.getLogger().removeHandler(self.log_ring)
        return 0
