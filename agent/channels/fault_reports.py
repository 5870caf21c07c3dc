"""The fault channel: fault-triggered reports: a new fault of severity error or worse becomes a report after a debounce,
within a per-code rate limit and a daily cap, both persisted across restarts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

from agent.cases.incident import Incident
from agent.clock import wall as wall_clock
from agent.config import AutoReportConfig
from agent.paths import state_path
from agent.request import ReportRequest, RequestError, check_request, fit
from agent.storage import StateFile
from agent.vocab import Reason, serious
from agent.worker import Worker

log = logging.getLogger(__name__)
FAULT_FIELDS = ("code", "device", "severity", "category", "message")
# How long a fault report waits for the case of a report about the same incident that is still on its way.
WAIT_FOR_CASE_S, LOOK_AGAIN_S = 600.0, 10.0


# What survives a restart: the limits' counts, the decisions waiting out their debounce, the faults reported.
STATE_DEFAULTS = {"last_by_code": {}, "day": "", "sent_today": 0, "suppressed": 0, "pending": {}, "open": {}}


def _valid(state: dict) -> bool:
    """The entries inside (the defaults say the fields' kinds): times are numbers, a pending report is whole."""
    times = [*state.get("last_by_code", {}).values(), *state.get("open", {}).values()]
    pending = state.get("pending", {}).values()
    return all(isinstance(t, (int, float)) for t in times) and all(
        isinstance(p["due"], (int, float)) and isinstance(p["repeats"], int) and isinstance(p["fault"]["device"], str)
        for p in pending
    )


class FaultReporter:
    """Decides, under one lock, whether a raised fault becomes a report; the decision counts against the
    limits at once, so no burst of faults can pass them. Decisions, limits and the faults already
    reported survive a restart: a fault that is still there after a restart is the same fault."""

    def __init__(
        self,
        cfg: AutoReportConfig,
        state_dir: str,
        submit: Callable[[ReportRequest], object],
        clock: Callable[[], float] = wall_clock,
        incident: Callable[[str], Incident] = lambda fault: Incident(None, None),
    ):
        self.cfg = cfg
        self.submit = submit
        self._clock = clock
        self.incident = incident  # the case a fault ("code|device") already has (cases/incident.py)
        self._file = StateFile(state_path(state_dir, "auto_reports"), STATE_DEFAULTS, durable=True, valid=_valid)
        self._lock = threading.Lock()
        # One report at a time, off the polling thread; a burst of faults queues (bounded), never a thread each.
        self._work = Worker("fault-report", maxsize=max(4, cfg.daily_cap))
        self.state = self._file.load()

    @property
    def pending(self) -> dict[str, dict]:
        return self.state["pending"]

    def _save(self) -> None:
        try:
            self._file.save(self.state)
        except OSError as exc:  # a full disk: the decision stands in memory, the limits still hold
            log.warning("cannot save the fault reports' state: %s", exc)

    def _today(self) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(self._clock()))
        if self.state["day"] != day:
            self.state["day"], self.state["sent_today"] = day, 0

    def fault_raised(self, fault) -> None:
        """Called as a fault is raised (FaultMonitor's on_raise)."""
        if not self.cfg.enabled or not serious(fault.severity):
            return
        key = f"{fault.code}|{fault.device}"
        with self._lock:
            now = self._clock()
            if fault.code in self.pending:  # it came back while its report waits: count it in
                self.pending[fault.code]["repeats"] += 1
                self._save()
                return
            self._today()
            last = self.state["last_by_code"].get(fault.code)
            if key in self.state["open"]:
                why = "it was reported before and has not cleared since (the agent restarted)"
            elif last is not None and now - last < self.cfg.per_code_interval_s:
                why = f"one {fault.code} report already went out {(now - last) / 60:.0f} min ago"
            elif self.state["sent_today"] >= self.cfg.daily_cap:
                why = f"the daily cap of {self.cfg.daily_cap} fault reports is reached"
            else:  # decided: it counts now, not when it is sent
                self.pending[fault.code] = {
                    "due": now + self.cfg.debounce_s,
                    "repeats": 0,
                    "fault": {k: getattr(fault, k) for k in FAULT_FIELDS},
                }
                self.state["last_by_code"][fault.code] = now
                self.state["sent_today"] += 1
                self.state["open"][key] = now
                self._save()
                return
            self.state["suppressed"] += 1
            self._save()
        log.info("no report for fault %s on %s: %s", fault.code, fault.device, why)

    def fault_cleared(self, fault) -> None:
        """Called as a fault clears (FaultMonitor's on_clear): the next time it is a new fault."""
        with self._lock:
            if self.state["open"].pop(f"{fault.code}|{fault.device}", None) is not None:
                self._save()

    def tick(self) -> None:
        """Send what is due, as a follow-up to the case its incident already has (one case per incident); a
        report of the same incident still on its way is waited for. Called from the daemon's loop, submits off it."""
        with self._lock:
            now, batch = self._clock(), []
            for code in [c for c, p in self.pending.items() if p["due"] <= now]:
                p = self.pending[code]
                found = self.incident(f"{code}|{p['fault']['device']}")
                if found.waiting_for and now < p.setdefault("first_due", p["due"]) + WAIT_FOR_CASE_S:
                    p["due"] = now + LOOK_AGAIN_S
                    continue
                batch.append(dict(self.pending.pop(code), case=found.case))
            if batch:
                self._save()
        for p in batch:
            self._work.start().submit(self._send, p)

    def stop(self, timeout: float = 5.0) -> None:
        self._work.stop(timeout)

    @staticmethod
    def request_for(p: dict) -> ReportRequest:
        """The report a raised fault asks for, through the one validator like every other channel's."""
        f = SimpleNamespace(**p["fault"])
        repeats = f" It was raised {p['repeats']} more times while this report waited." if p["repeats"] else ""
        fields = {
            "subject": fit(f"Fault {f.code} on {f.device}", "subject"),
            "description": fit(f"The agent raised fault {f.code} on {f.device}: {f.message}.{repeats}", "description"),
        }
        details = {"fault": f.code, "device": f.device, "repeats": p["repeats"]}
        if p.get("case"):  # the incident has its case: this goes to it as a follow-up, not a case of its own
            fields["case_ref"] = p["case"]
            return check_request(fields, Reason.FOLLOW_UP, details=dict(details, follows=Reason.FAULT))
        return check_request(fields, Reason.FAULT, details=details)

    def _send(self, p: dict) -> None:
        try:
            self.submit(self.request_for(p))
        except RequestError as exc:
            log.error("the fault report for %s was refused: %s", p["fault"]["code"], exc)
        except (ValueError, TimeoutError, OSError) as exc:
            log.error("the fault report could not be made: %s", exc)

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "pending": sorted(self.pending),
                "sent_today": self.state["sent_today"],
                "suppressed": self.state["suppressed"],
            }
