"""The report desk: requests queue here, are built off the polling path on one thread, and are spooled;
callers wait for a report's state in the outbox's own vocabulary."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from agent.collect import Box
from agent.config import AgentConfig
from agent.outbox import Entry, Outbox, bundle_damage, describe
from agent.outbox.quota import enforce_quota
from agent.request import ReportRequest
from agent.transports.sender import Sender

log = logging.getLogger(__name__)
QUEUE_SIZE = 32


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


class ReportDesk:
    """LOOK takes a fresh Box; ONSITE says whether an installer is at the box; ON_ACCEPTED hears of
    every report spooled (the sender is woken, a notice published)."""

    def __init__(
        self,
        cfg: AgentConfig,
        outbox: Outbox,
        sender: Sender,
        look: Callable[[], Box],
        onsite: Callable[[], bool],
        on_accepted: Callable[[Entry], None],
    ):
        self.cfg = cfg
        self.outbox = outbox
        self.sender = sender
        self._look = look
        self._onsite = onsite
        self._on_accepted = on_accepted
        self._requests: queue.Queue[tuple[ReportRequest, bool, Future]] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._thread.join(timeout)

    # --- asking -------------------------------------------------------------------------------
    def submit(self, request: ReportRequest, timeout: float = 30.0) -> str:
        """Queue a report; return its id once it is accepted (spooled durably). A request whose
        request_id was accepted before is that report: its answer was lost, not the request (the
        build thread looks it up, once, so two copies of it queued at once are one report too)."""
        return self._ask(request, False, timeout)

    def export(self, request: ReportRequest, timeout: float = 60.0) -> tuple[str, bytes]:
        """Build the same report to bytes and send nothing."""
        return self._ask(request, True, timeout)

    def _ask(self, request: ReportRequest, export: bool, timeout: float):
        done: Future = Future()
        try:
            self._requests.put_nowait((request, export, done))
        except queue.Full:
            raise ValueError("too many reports are being built; try again in a minute") from None
        try:
            return done.result(timeout=timeout)
        except TimeoutError:  # (an OSError too, so first) still being built: not an outbox failure
            raise ValueError(
                f"the report was not ready within {timeout:g} s; it is still being made and is sent once it is"
            ) from None
        except OSError as exc:  # a full disk, a read-only state folder: say so, plainly
            raise ValueError(f"the report could not be stored in {self.outbox.folder}: {exc.strerror or exc}") from None

    # --- reading ------------------------------------------------------------------------------
    def wait(self, report_id: str, timeout: float) -> dict | None:
        """Wait until the report is delivered, refused or has failed once more; its description."""
        entry = self.sender.wait_for(report_id, timeout)
        return describe(entry) if entry else None

    def state(self, report_id: str) -> dict | None:
        entry = self.outbox.load(report_id)
        return describe(entry) if entry else None

    def list(self) -> list[dict]:
        return [describe(e) for e in sorted(self.outbox.entries(), key=lambda e: e.created, reverse=True)]

    def bundle(self, report_id: str) -> Path | None:
        entry = self.outbox.load(report_id)
        return (
            self.outbox.bundle_path(report_id)
            if entry is not None and not bundle_damage(self.outbox.bundle_path(report_id), entry.size)
            else None
        )

    # --- building -----------------------------------------------------------------------------
    def _build(self, request: ReportRequest, export: bool, done: Future) -> Entry | None:
        """The report spooled (its entry), or None when DONE is settled otherwise (exported, known, failed)."""
        from agent.report.build import (  # the pipeline loads with the first report
            export_report,
            make_report,
        )

        try:
            known = self.outbox.find(request_id=request.request_id) if request.request_id and not export else None
            if known is not None:  # the same request twice in the queue: one report
                done.set_result(known.report_id)
                return None
            box = self._look()
            # One place decides priority (request.py); here it learns what the box knows.
            request = replace(request, on_site=request.on_site or self._onsite()).with_faults(box.faults)
            if export:
                done.set_result(export_report(self.cfg, request, box))
                return None
            entry = make_report(self.cfg, request, box, self.outbox, self.sender.budget)
        except Exception as exc:
            log.error("report could not be built: %s", exc)
            log.debug("report build failure", exc_info=True)
            done.set_exception(exc)
            return None
        done.set_result(entry.report_id)
        return entry

    def _work(self) -> None:
        from agent.service.memory import give_back

        background_priority()
        while not self._stop.is_set():
            try:
                request, export, done = self._requests.get(timeout=0.5)
            except queue.Empty:
                continue
            entry = self._build(request, export, done)
            give_back()  # the build's buffers go back to the board, not into the heap's fragments
            if entry is None:
                continue
            try:
                enforce_quota(self.outbox, self.cfg.outbox.max_bytes, self.cfg.outbox.max_reports)
                self._on_accepted(entry)
            except OSError as exc:
                log.error("after report %s: %s", entry.report_id, exc)
