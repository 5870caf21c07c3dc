"""The one read-model of the running box: a Box for reports and the self-check, and the status
that the CLI, the page and the MQTT status topic show."""

from __future__ import annotations

from collections.abc import Callable

from agent import __version__
from agent.collect import Box
from agent.config import AgentConfig
from agent.devices.poller import ModbusPoller
from agent.outbox import Outbox
from agent.redact import Secrets
from agent.service.healthwatch import HealthWatch
from agent.service.logring import RingHandler
from agent.transports.budget import Budget, budget_status
from agent.watch.checks import answer, judged
from agent.watch.faults import FaultMonitor
from agent.watch.judge import network_verdict, software_verdict
from agent.watch.timeline import Timeline

FAULT_FIELDS = ("code", "device", "severity", "category", "message")


class StatusModel:
    def __init__(
        self,
        cfg: AgentConfig,
        poller: ModbusPoller,
        faults: FaultMonitor,
        timeline: Timeline,
        health: HealthWatch,
        outbox: Outbox,
        log_ring: RingHandler,
        mqtt_connected: Callable[[], bool | None],
        extras: Callable[[], dict],
        mqtt_state: Callable[[], dict] = dict,
        recorded: Callable[[], dict] = dict,
        secrets: Secrets | None = None,
        budget: Budget | None = None,
    ):
        self.secrets = secrets or Secrets(cfg.secrets())  # the status leaves the process: CLI, page, MQTT
        self.cfg = cfg
        self.poller = poller
        self.faults = faults
        self.timeline = timeline
        self.health = health
        self.outbox = outbox
        self.log_ring = log_ring
        self._mqtt_connected, self._mqtt_state = mqtt_connected, mqtt_state  # the link's state()
        self._extras = extras  # what the channels add: on-site state, command counts, fault reports
        self._recorded = recorded  # the flight recorder's: the last stop, fault windows on disk
        self.budget = budget  # the data budget (transports/budget.py), when the box has one
        self._scan_progress: dict = {}  # a bus scan under way: {"bus", "asked", "total", "found"}

    def look(self, fresh: bool = True, history: bool = True) -> Box:
        """Everything the box knows now, judged once (what a report is made of). FRESH collects health now,
        else the latest snapshot is used; HISTORY freezes a copy of the history (a report's)."""
        return judged(self.cfg, self._facts(fresh, history))

    def _facts(self, fresh: bool, history: bool) -> Box:
        """The collect stage of one look (agent/collect): facts only, no verdicts yet."""
        health = self.health.collect() if fresh or self.health.latest is None else self.health.latest
        recorded = self._recorded() if history else {}
        link = self._mqtt_state()
        return Box(
            devices=self.poller.snapshot(),
            health=health,
            faults=tuple(self.faults.active_list()),
            timeline=tuple(self.timeline.to_list()),
            history=self._history(recorded) if history else {},
            recorder=recorded,
            buses=self.poller.bus_status(),
            outbox=self.outbox.counts(),
            mqtt_connected=self._mqtt_connected(),
            agent_log=tuple(self.log_ring.tail()),
            mqtt_problem=link.get("last_failure"),
            mqtt_not_authorized=bool(link.get("not_authorized")),
        )

    def _history(self, recorded: dict):
        """The history frozen for one report (agent/devices/history.Frozen), or {} without one."""
        if self.poller.history is None:
            return {}
        return self.poller.history.freeze(earlier_until=recorded.get("earlier_history_until"))

    def check(self, fresh: bool = True) -> dict:
        box = self._facts(fresh, history=False)
        if fresh:  # asked for by a person: where a device is silent, see which unit ids do answer
            from agent.devices.scan import quick_scans

            links = {b.config.name: b.link for b in self.poller.buses}
            box = box.but(
                scans=quick_scans({b.name: b for b in self.cfg.buses}, box.devices, self.cfg.profiles_dir, links)
            )
        return self.secrets.strings(answer(judged(self.cfg, box)), "check")  # a hook's stderr is in it

    def scan(self, bus_name: str | None, units: list[int], budget_s: float, timeout_s: float) -> list[dict]:
        """The installer's scan through the running daemon: serial buses share the poller's link."""
        from agent.devices.scan import scan_bus
        from agent.devices.scan import to_dict as scan_dict

        links = {b.config.name: b.link for b in self.poller.buses}
        out = []
        try:
            for b in self.cfg.buses:
                if bus_name in (None, b.name):
                    mine = [d.unit for d in self.cfg.devices if d.bus == b.name]
                    out.append(
                        scan_dict(
                            scan_bus(
                                b,
                                units,
                                self.cfg.profiles_dir,
                                budget_s,
                                timeout_s,
                                links.get(b.name) if b.type == "rtu" else None,
                                mine,
                                progress=self._scan_progress.update,
                            )
                        )
                    )
        finally:
            self._scan_progress.clear()
        return out

    def status(self) -> dict:
        """What the CLI, the page and the status topic show: scrubbed of every secret the box knows."""
        return self.secrets.strings(self._status(), "status")

    def _status(self) -> dict:
        entries = self.outbox.entries()  # read once: the page asks every few seconds
        delivered = sorted((e for e in entries if e.delivered), key=lambda e: e.created)
        health = self.health.latest or {}
        return {
            "agent_version": __version__,
            "devices": {
                name: {"reachable": d.reachable, "last_error": d.last_error}
                for name, d in self.poller.snapshot().items()
            },
            "faults": [{k: f[k] for k in FAULT_FIELDS} for f in self.faults.active_list()],
            "buses": self.poller.bus_status(),
            **self._extras(),
            "network": network_verdict(health["network"])["verdict_text"] if health else None,
            "software": {
                "firmware_version": health["software"]["firmware_version"],
                "verdict": software_verdict(health["software"]),
            }
            if health
            else None,
            "outbox": self.outbox.counts(entries),
            "data_budget": budget_status(self.budget, entries),
            "last_receipt": delivered[-1].receipt if delivered else None,
            "mqtt_connected": bool(self._mqtt_connected()),
            "scan": dict(self._scan_progress) or None,
        }

    def web_status(self, language: str | None = None) -> dict:
        """The status plus the box explained in LANGUAGE (watch/explain.py): who it is, its state, where a fault
        is, what needs a look, the live readings; from the latest health snapshot, as the page polls often."""
        from agent.watch.explain import explained

        status = self._status()
        if self.health.latest is not None:
            box = judged(self.cfg, self._facts(fresh=False, history=False), language)
            checks = box.checks or {}
            status["check"] = {"result": checks["result"], "counts": checks["counts"]}
            d = self.cfg.device
            status["explained"] = explained(box, language or self.cfg.language, d.model, d.identity)
        return self.secrets.strings(status, "status")
