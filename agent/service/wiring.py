"""The composition root: the box's parts made and wired to each other (Parts), and the small functions that make
the ones configured. agent/service/daemon.py runs them (the main loop, the watchdog, the orderly stop).

Reports are built on the desk's thread, health on its own, deliveries on the send thread, a raised fault's
consequences on the "fault-calls" worker; every thread has an owner here that stops it (daemon.stop_parts).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cases.incident import incident_for, open_cases
from agent.channels.control import ControlServer, handlers
from agent.channels.events import FirmwareEvents
from agent.channels.fault_reports import FaultReporter
from agent.channels.ocpp import OcppDelegate
from agent.config import AgentConfig
from agent.devices.poller import ModbusPoller
from agent.onsite import OnSite
from agent.paths import control_socket_path, state_path
from agent.recorder import Recorder
from agent.redact import SecretFilter, Secrets
from agent.security import SecurityLog
from agent.service.conversation import Conversation
from agent.service.desk import ReportDesk
from agent.service.healthwatch import HealthWatch
from agent.service.jobs import Jobs
from agent.service.logring import RingHandler
from agent.service.sdnotify import Notifier
from agent.service.status import StatusModel
from agent.transports.sender import delivery
from agent.watch.faults import FaultMonitor
from agent.watch.timeline import Timeline
from agent.worker import Worker

if TYPE_CHECKING:  # made by start_channels(), loaded only where configured
    from agent.channels.button import ButtonChannel
    from agent.channels.cloud import CommandWorker
    from agent.channels.web import WebServer

log = logging.getLogger(__name__)


def void(_: object) -> None:
    """A callback's result is nobody's: a full queue has said so in the log already."""


def each(*callbacks):
    """One callback that calls CALLBACKS in order (those that are None are left out)."""

    def call(*args) -> None:
        for callback in callbacks:
            if callback:
                callback(*args)

    return call


def fault_monitor(
    cfg: AgentConfig, timeline: Timeline, calls: Worker, recorder: Recorder | None, auto_reports: FaultReporter
) -> FaultMonitor:
    """The fault monitor, its news handed to CALLS: what a raised or cleared fault sets off writes to the SD
    card (a fault window, the fault reports' state), never on the polling thread, and in order."""
    raised = each(
        recorder and recorder.fault_raised,  # its window first: the report then has it
        auto_reports.fault_raised,
    )
    return FaultMonitor(
        cfg.faults,
        timeline,
        cfg.state_dir,
        health=cfg.health,
        on_raise=lambda f: void(calls.submit(raised, f)),
        on_clear=lambda f: void(calls.submit(auto_reports.fault_cleared, f)),
    )


def fault_reporter(d: Parts) -> FaultReporter:
    """Fault reports, each joining the case its incident already has (cases/incident.py)."""
    return FaultReporter(
        d.cfg.auto_report,
        d.cfg.state_dir,
        lambda r: d.desk.submit(r),
        incident=lambda fault: incident_for(fault, d.outbox, d.conversation.book, d.onsite),
    )


def status_model(d: Parts) -> StatusModel:
    """The one read-model of the running box, over the parts that know each piece."""
    return StatusModel(
        d.cfg,
        d.poller,
        d.faults,
        d.timeline,
        d.health,
        d.outbox,
        d.log_ring,
        d.mqtt_connected,
        d.channel_status,
        lambda: d.mqtt.state() if d.mqtt else {},
        d.recorder.report_data if d.recorder else dict,
        d.secrets,
        d.sender.budget,
    )


def ocpp_delegate(d: Parts) -> OcppDelegate:
    """The OCPP delegate behind the control socket: GetLog and GetDiagnostics answered, uploaded, told."""
    return OcppDelegate(
        d.desk.export,
        d.cfg.device.identity,
        d.cfg.backend.ca_file,
        security=lambda window: d.security.bundle(d.cfg, window, d.secrets.values()),
        on_event=lambda e: tell(d.mqtt, "ocpp_log", **e),
    )


def control_server(d: Parts, ocpp: OcppDelegate) -> ControlServer:
    """The control socket the CLI and the firmware talk to, with the OCPP delegate behind it."""
    commands = handlers(d.desk, d.status, d.onsite, d.events, d.cfg.report.wait_for_case_s, d.conversation, ocpp)
    return ControlServer(control_socket_path(d.cfg), commands)


def tell(link, event: str, **fields) -> None:
    """An MQTT notice, when the box has a broker link (paho is loaded only then)."""
    if link is not None:
        from agent.transports.mqtt import notice

        notice(link, event, **fields)


def button_channel(d: Parts) -> ButtonChannel | None:
    if not d.cfg.button.enabled:
        return None
    from agent.channels.button import ButtonChannel

    return ButtonChannel(d.cfg.button, d.desk, d.onsite, d.cfg.report.wait_for_case_s, d.pin_factory)


def web_server(d: Parts) -> WebServer | None:
    """The local page, listening; None where it is off or cannot listen (said in the log)."""
    cfg = d.cfg
    if not cfg.web.enabled:
        return None
    from agent.channels.web import WebServer

    try:
        web = WebServer(
            cfg.web, d.desk, d.onsite, d.status, d.conversation, (cfg.language, cfg.timezone), d.security.record
        )
        web.start()
        return web
    except OSError as exc:
        log.error("the local page cannot listen on %s:%d: %s", cfg.web.host, cfg.web.port, exc.strerror)
        return None


def command_worker(d: Parts) -> CommandWorker | None:
    """Signed cloud commands, where the box has a broker link."""
    if d.mqtt is None:
        return None
    from agent.channels.cloud import CommandWorker

    commands = CommandWorker(d.cfg.cloud, d.cfg.state_dir, d.desk, d.onsite, d.mqtt, security=d.security.record)
    commands.start()
    return commands


def mqtt_parts(cfg: AgentConfig, on_command, on_connected):
    """The broker link and the MQTT transport over it, when MQTT is enabled."""
    if not cfg.mqtt.enabled:
        return None, None
    from agent.transports.mqtt import MqttLink, MqttTransport

    link = MqttLink(cfg.mqtt, cfg.device.identity, memory=state_path(cfg.state_dir, "mqtt"))
    link.takers.command, link.on_connected = on_command, on_connected
    return link, MqttTransport(link, cfg.backend.timeout_s, cfg.support.case_key)


class Parts:
    """The box's parts, made and wired to each other (the composition root); Daemon runs them."""

    def __init__(self, cfg: AgentConfig, notifier: Notifier | None = None, pin_factory=None, secrets=None):
        self.cfg, self.notifier = cfg, notifier or Notifier()
        self.secrets: Secrets = secrets or Secrets(cfg.secrets())  # one redaction for all that leaves
        self.pin_factory = pin_factory  # gpiozero's; tests hand in the mock one
        Path(cfg.state_dir).mkdir(parents=True, exist_ok=True, mode=0o750)
        self.stop_event, self.send_wake = threading.Event(), threading.Event()
        self.poller = ModbusPoller.from_config(cfg, with_history=True)
        self.timeline = Timeline(clock_set=lambda: self.clock_set())
        self.mqtt, mqtt_transport = mqtt_parts(cfg, self._cloud_command, self.send_wake.set)
        self.sender = delivery(cfg, mqtt_transport, on_delivered=self._delivered)
        self.outbox = self.sender.outbox
        self.onsite = OnSite(cfg.state_dir, cfg.onsite.duration_s, self.timeline, on_change=self._onsite_changed)
        self.auto_reports = fault_reporter(self)
        history, scrub = self.poller.history, self.secrets.strings
        self.recorder = (
            Recorder(cfg.recorder, cfg.state_dir, history, self.timeline, scrub=scrub) if cfg.recorder.enabled else None
        )
        self.fault_calls = Worker("fault-calls", maxsize=256)
        self.faults = fault_monitor(cfg, self.timeline, self.fault_calls, self.recorder, self.auto_reports)
        self.health = HealthWatch(cfg, self.faults.evaluate_health, self.mqtt_connected, self.secrets)
        self.log_ring = RingHandler.attach(cfg.report.agent_log_lines, SecretFilter(self.secrets))
        self.status = status_model(self)
        self.desk = ReportDesk(cfg, self.outbox, self.sender, self.status.look, self._on_site, self._accepted)
        self.security = SecurityLog(cfg.state_dir)
        self.events = FirmwareEvents(self.faults, self.timeline, self.health.wake, self.security.record)
        self.conversation = Conversation(
            cfg, self.outbox, self.desk.submit, self._on_site, self._accepted, self.publish_status, self.secrets
        )
        if self.mqtt:
            self.mqtt.takers.case = self.conversation.from_mqtt
        if self.sender.budget:  # the case reads count against the data budget too
            self.conversation.http.meter = self.sender.budget
        self.button: ButtonChannel | None = None  # the channels, made by start_channels() as configured
        self.web: WebServer | None = None
        self.commands: CommandWorker | None = None
        self.ocpp: OcppDelegate | None = None  # made with the control socket
        self.jobs: Jobs | None = None  # the main loop's, made by run()

    def _on_site(self) -> bool:
        return self.onsite.to_dict()["on"]

    def mqtt_connected(self) -> bool | None:
        return self.mqtt.connected if self.mqtt else None

    # --- what the parts tell each other -------------------------------------------------------
    def channel_status(self) -> dict:
        return {
            "onsite": self.onsite.to_dict(),
            "auto_reports": self.auto_reports.to_dict(),
            "commands": dict(self.commands.counts) if self.commands else None,
            "mqtt": self.mqtt.state() if self.mqtt else None,
            "cases": self.conversation.counts(),
            "jobs": {p.name: p.runs for p in self.jobs.periodic} if self.jobs else None,
            "fault_cases": open_cases(self.faults.active_list(), self.outbox, self.conversation.book, self.onsite),
        }

    def publish_status(self) -> None:
        if self.mqtt:
            self.mqtt.publish_status(self.status.status())

    def _accepted(self, entry) -> None:
        self.send_wake.set()
        e = entry
        tell(self.mqtt, "accepted", report_id=e.report_id, priority=e.priority, on_site=e.on_site, bytes=e.size)

    def _delivered(self, entry) -> None:
        self.conversation.refresh_soon()  # the case it landed in has news
        receipt = entry.receipt
        tell(
            self.mqtt,
            "delivered",
            report_id=entry.report_id,
            case=receipt["case"],
            priority=receipt["priority"],
            via=entry.via,
            bytes=entry.size,
        )
        self.publish_status()

    def _onsite_changed(self, state) -> None:
        if self.button is not None:
            self.button.onsite_changed(state.on)
        self.publish_status()

    def _cloud_command(self, payload: bytes, correlation: bytes | None) -> None:
        if self.commands is not None:  # from paho's network thread: the worker takes it from here
            self.commands.offer(payload, correlation)

    def clock_set(self) -> bool | None:
        """Whether NTP has set the clock, as the last health round saw it."""
        health = getattr(self, "health", None)  # events come in while the parts are still being made
        return ((health and health.latest or {}).get("system") or {}).get("clock_synced")

    def poll(self) -> None:
        self.poller.poll_once()
        self.faults.evaluate(self.poller.snapshot())

    def start_channels(self) -> None:
        """The button, the local page and cloud commands, each as configured; what cannot start says why."""
        self.button = button_channel(self)
        self.web = web_server(self)
        self.commands = command_worker(self)
