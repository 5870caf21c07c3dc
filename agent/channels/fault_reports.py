"""The fault channel: fault-triggered reports: a new fault of severity error or worse becomes a report after a debounce,
within a per-code rate limit and a daily cap, both persisted across restarts."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from agent.config import AutoReportConfig
from agent.report.request import LIMITS, RequestError, ReportRequest, check_request, fit
from agent.storage import read_json, write_json

log = logging.getLogger(__name__)


class FaultReporter:
    def __init__(self, cfg: AutoReportConfig, state_dir: str, submit: Callable[[ReportRequest], object],
                 clock: Callable[[], float] = time.time):
        self.cfg, self.submit, self._clock = cfg, submit, clock
        self._path = Path(state_dir) / "auto_reports.json"
        self._lock = threading.Lock()
        self.pending: dict[str, dict] = {}
        self.state = read_json(self._path, {})
        self.state.setdefault("last_by_code", {})
        self.state.setdefault("day", "")
        self.state.setdefault("sent_today", 0)
        self.state.setdefault("suppressed", 0)

    def _save(self) -> None:
        write_json(self._path, self.state)

    def _today(self) -> str:
        day = time.strftime("%Y-%m-%d", time.gmtime(self._clock()))
        if self.state["day"] != day:
            self.state["day"], self.state["sent_today"] = day, 0
        return day

    def fault_raised(self, fault) -> None:
        """Called as a fault is raised (FaultMonitor's on_raise)."""
        if not self.cfg.enabled or fault.severity not in ("error", "critical"):
            return
        with self._lock:
            now = self._clock()
            if fault.code in self.pending:  # it came back while its report waits: count it in
                self.pending[fault.code]["repeats"] += 1
                return
            self._today()
            last = self.state["last_by_code"].get(fault.code)
            if last is not None and now - last < self.cfg.per_code_interval_s:
                why = f"one {fault.code} report already went out {(now - last) / 60:.0f} min ago"
            elif self.state["sent_today"] >= self.cfg.daily_cap:
                why = f"the daily cap of {self.cfg.daily_cap} fault reports is reached"
            else:
                self.pending[fault.code] = {"due": now + self.cfg.debounce_s, "fault": fault, "repeats": 0}
                return
            self.state["suppressed"] += 1
            self._save()
        log.info("no report for fault %s: %s", fault.code, why)

    def tick(self) -> None:
        """Send what is due; called from the daemon's loop, submits off it."""
        with self._lock:
            now = self._clock()
            due = [code for code, p in self.pending.items() if p["due"] <= now]
            batch = [self.pending.pop(code) for code in due]
            for p in batch:
                self._today()
                self.state["last_by_code"][p["fault"].code] = now
                self.state["sent_today"] += 1
            if batch:
                self._save()
        for p in batch:
            threading.Thread(target=self._send, args=(p,), name="fault-report", daemon=True).start()

    @staticmethod
    def request_for(p: dict) -> ReportRequest:
        """The report a raised fault asks for, through the one validator like every other channel's."""
        f = p["fault"]
        repeats = f" It was raised {p['repeats']} more times while this report waited." if p["repeats"] else ""
        subject = f"Fault {f.code} on {f.device}"
        if len(subject) < LIMITS["subject"][0]:  # a firmware fault's code may be one letter long
            subject = f"Fault report: {f.code} on {f.device}"
        fields = {"subject": fit(subject, "subject"),
                  "description": fit(f"The agent raised fault {f.code} on {f.device}: {f.message}.{repeats}",
                                     "description")}
        return check_request(fields, "fault", details={"fault": f.code, "device": f.device, "repeats": p["repeats"]})

    def _send(self, p: dict) -> None:
        try:
            self.submit(self.request_for(p))
        except RequestError as exc:
            log.error("the fault report for %s was refused: %s", p["fault"].code, exc)
        except (ValueError, TimeoutError, OSError) as exc:
            log.error("the fault report could not be made: %s", exc)

    def to_dict(self) -> dict:
        with self._lock:
            return {"pending": sorted(self.pending), "sent_today": self.state["sent_today"],
                    "suppressed": self.state["suppressed"]}
