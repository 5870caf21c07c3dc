"""The OCPP delegate: the firmware owns the charge point's OCPP connection and hands the agent a CSMS's log
request (1.6 GetDiagnostics, 2.0.1 GetLog and 1.6's security extension GetLog). The agent answers at once
what the OCPP response needs (Accepted, Rejected, AcceptedCanceled when it cancels a running request; the file
name), then builds the report, uploads it to the request's location with its retries and retry interval, and
reports every status change with the request id, for the firmware to send as LogStatusNotification (or, for
GetDiagnostics, DiagnosticsStatusNotification).

Each version speaks its own words (the schemas the `ocpp` package ships; WIRE below): 2.0.1's
UploadLogStatusEnumType has AcceptedCanceled, 1.6's security extension has not, 1.6 GetDiagnostics knows
Uploading, Uploaded, UploadFailed and Idle only. A newer request ends the one running with that version's
final word. Every request gets a ticket of its own (1.6 GetDiagnostics has no request id on the wire): the
firmware follows its request by it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from agent.clock import utc_compact
from agent.request import ReportRequest
from agent.transports.upload import Location, UploadError, parse_location, upload

log = logging.getLogger(__name__)
LOG_TYPES = ("DiagnosticsLog", "SecurityLog")
VERSIONS = ("2.0.1", "1.6")
# The status words each message may carry on the wire (LogStatusNotification 2.0.1, 1.6's security extension's,
# 1.6 DiagnosticsStatusNotification), and the word that ends a request a newer one replaced.
_SECURITY_16 = (
    "BadMessage",
    "Idle",
    "NotSupportedOperation",
    "PermissionDenied",
    "Uploaded",
    "UploadFailure",
    "Uploading",
)
WIRE = {
    "2.0.1": (*_SECURITY_16, "AcceptedCanceled"),  # 2.0.1 adds the one word 1.6's extension lacks
    "1.6": _SECURITY_16,
    "diagnostics": ("Idle", "Uploaded", "UploadFailed", "Uploading"),
}
REPLACED = {"2.0.1": "AcceptedCanceled", "1.6": "UploadFailure", "diagnostics": "UploadFailed"}
MAX_FILENAME = 255  # OCPP: filename is string[0..255]
FILENAME = re.compile(r"^[A-Za-z0-9._:+-]{1,255}$")
MAX_RETRIES, MAX_INTERVAL_S = 10, 3600
FINAL = (
    "Uploaded",
    "UploadFailure",
    "UploadFailed",
    "BadMessage",
    "NotSupportedOperation",
    "PermissionDenied",
    "AcceptedCanceled",
    "Idle",
)


@dataclass
class LogRequest:
    request_id: int
    log_type: str
    location: Location
    oldest: float | None
    latest: float | None
    retries: int
    retry_interval_s: float
    diagnostics_16: bool  # 1.6 GetDiagnostics: its own status words, no request id on the wire
    filename: str | None = None  # the name the firmware already gave the CSMS (EVerest does), else ours
    version: str = "2.0.1"  # the OCPP version on the firmware's wire
    ticket: int = 0  # the delegate's own number for it: the firmware follows its request by it

    @property
    def words(self) -> str:
        """Which of WIRE's vocabularies this request's notifications use."""
        return "diagnostics" if self.diagnostics_16 else self.version


def _time(value: object, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"{name}: expected an ISO 8601 time such as 2026-11-26T08:00:00Z") from None


def check_log_request(fields: dict) -> LogRequest:
    """A LogRequest from the firmware's fields (the OCPP request's, in its own names); ValueError naming the
    field, or UploadError(BadMessage) for a location that cannot be one."""
    known = {
        "request_id",
        "log_type",
        "location",
        "oldest",
        "latest",
        "retries",
        "retry_interval",
        "message",
        "filename",
        "ocpp_version",
    }
    unknown = set(fields) - known
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    message = fields.get("message", "GetLog")
    if message not in ("GetLog", "GetDiagnostics"):
        raise ValueError("message: GetLog or GetDiagnostics")
    version = fields.get("ocpp_version", "1.6" if message == "GetDiagnostics" else "2.0.1")
    if version not in VERSIONS or (message == "GetDiagnostics" and version != "1.6"):
        raise ValueError("ocpp_version: 2.0.1 or 1.6 (GetDiagnostics is 1.6's)")
    rid = fields.get("request_id", 0 if message == "GetDiagnostics" else None)
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid < 2**31:
        raise ValueError("request_id: a whole number (the CSMS's requestId)")
    log_type = fields.get("log_type", "DiagnosticsLog")
    if log_type not in LOG_TYPES:
        raise ValueError(f"log_type: {' or '.join(LOG_TYPES)}")
    retries, interval = fields.get("retries", 0) or 0, fields.get("retry_interval", 60) or 0
    for name, value, most in (("retries", retries, MAX_RETRIES), ("retry_interval", interval, MAX_INTERVAL_S)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= most:
            raise ValueError(f"{name}: 0 to {most}")
    filename = fields.get("filename")
    if filename is not None and not (isinstance(filename, str) and FILENAME.match(filename)):
        raise ValueError(f"filename: letters, digits and . _ : + - only, at most {MAX_FILENAME}")
    oldest, latest = _time(fields.get("oldest"), "oldest"), _time(fields.get("latest"), "latest")
    if oldest and latest and oldest > latest:
        raise ValueError("oldest: after latest")
    return LogRequest(
        rid,
        log_type,
        parse_location(fields.get("location")),
        oldest,
        latest,
        int(retries),
        float(interval),
        message == "GetDiagnostics",
        filename,
        version,
    )


class OcppDelegate:
    """EXPORT(ReportRequest) builds a bundle and sends nothing (the desk's); SLEEP waits between attempts (the
    clock, injected in tests). One request at a time: a new one cancels the running one."""

    def __init__(
        self,
        export: Callable[[ReportRequest], tuple[str, bytes]],
        identity: str,
        ca_file: str | None = None,
        deadline_s: float = 300.0,
        sleep: Callable[[threading.Event, float], bool] = lambda stop, s: stop.wait(s),
        security: Callable[[tuple], tuple[str, bytes]] | None = None,
        on_event: Callable[[dict], None] = lambda event: None,
        total_deadline_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        """SECURITY(window) builds the SecurityLog's bundle (the daemon's security log, report/build.py); ON_EVENT
        hears every status change (the daemon publishes it as an MQTT notice); no attempt starts after
        TOTAL_DEADLINE_S from the request (on CLOCK)."""
        self._export = export
        self.identity = identity
        self.ca_file = ca_file
        self.deadline_s = deadline_s
        self._security = security
        self._on_event = on_event
        self.total_deadline_s = total_deadline_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._events: list[dict] = []  # the newest status changes, in order; the CLI reads on from a count
        self._dropped = 0  # how many older ones the bound let go: a count stays a count
        self._running: tuple[LogRequest, threading.Event, threading.Thread] | None = None
        self._tickets = 0

    def request(self, fields: dict) -> dict:
        """The OCPP response, at once: {"status": Accepted | Rejected | AcceptedCanceled, "filename"?, "reason"?,
        "ticket"}: the ticket names this request in the events."""
        try:
            req = check_log_request(fields)
        except (ValueError, UploadError) as exc:
            return {"status": "Rejected", "reason": str(exc)}
        with self._lock:
            self._tickets += 1
            req.ticket = self._tickets
        kind = "security" if req.log_type == "SecurityLog" else "diagnostics"
        # GetDiagnostics has no request id: its ticket keeps two of them in one second apart.
        which = f"t{req.ticket}" if req.diagnostics_16 else req.request_id
        filename = req.filename or f"{self.identity}-{kind}-{utc_compact()}-{which}.tar.gz"[:MAX_FILENAME]
        with self._lock:
            cancelled = self._running
            stop = threading.Event()
            worker = threading.Thread(target=self._run, args=(req, filename, stop), name="ocpp-log", daemon=True)
            self._running = (req, stop, worker)
        status = "Accepted"
        if cancelled and cancelled[2].is_alive():
            cancelled[1].set()
            self._emit(cancelled[0], REPLACED[cancelled[0].words], "a newer request replaced it")
            status = "AcceptedCanceled"
        worker.start()
        return {"status": status, "filename": filename, "ticket": req.ticket}

    def stop(self, timeout: float = 2.0) -> None:
        """At the daemon's stop: the upload under way is told to stop, and waited for within TIMEOUT (the CSMS
        asks again; a half upload is the server's to drop)."""
        with self._lock:
            running = self._running
        if running and running[2].is_alive():
            running[1].set()
            running[2].join(timeout)

    def events(self, since: int = 0) -> tuple[list[dict], int]:
        """The status changes after the first SINCE ever made, and the count to ask from next time."""
        with self._lock:
            return self._events[max(0, since - self._dropped) :], self._dropped + len(self._events)

    def _emit(self, req: LogRequest, status: str, info: str | None = None) -> None:
        words = WIRE[req.words]
        if status not in words:  # a failure this version has no word for is its failure's word
            status = "UploadFailed" if req.diagnostics_16 else "UploadFailure"
        event = {"request_id": req.request_id, "ticket": req.ticket, "status": status, "at": time.time()}
        if info:
            event["info"] = info[:255]  # OCPP: additionalInfo / statusInfo are short
        with self._lock:
            self._events.append(event)
            if len(self._events) > 200:  # bounded: the firmware reads them as they come
                self._dropped += len(self._events) - 200
                del self._events[:-200]
        try:
            self._on_event(event)
        except Exception as exc:  # a subscriber's failure is not the upload's
            log.info("OCPP status event not passed on: %s", exc)
        log.info("OCPP log request %d: %s%s", req.request_id, status, f" ({info})" if info else "")

    def _run(self, req: LogRequest, filename: str, stop: threading.Event) -> None:
        try:
            self._serve(req, filename, stop)
        except Exception as exc:  # noqa: BLE001 (whatever happens, the CSMS hears a final status)
            log.error("OCPP log request %d failed: %s: %s", req.request_id, type(exc).__name__, exc)
            self._emit(req, "UploadFailure", f"the upload failed ({type(exc).__name__})")

    def _serve(self, req: LogRequest, filename: str, stop: threading.Event) -> None:
        try:
            if req.log_type == "SecurityLog":
                if self._security is None:
                    self._emit(req, "NotSupportedOperation", "this box keeps no security log")
                    return
                _, data = self._security((req.oldest, req.latest))
            else:
                data = self._diagnostics(req)
        except Exception as exc:  # the report could not be made: the CSMS hears of it, the daemon goes on
            self._emit(req, "UploadFailure", f"the report could not be made: {exc}")
            return
        self._upload(req, filename, data, stop)

    def _diagnostics(self, req: LogRequest) -> bytes:
        """The DiagnosticsLog: our report, of the request's time window when it gives one."""
        report = ReportRequest(
            reason="ocpp",
            subject=f"OCPP {req.log_type} request {req.request_id}",
            description="Requested by the charge point's management system over OCPP.",
            details={"request_id": req.request_id, "log_type": req.log_type},
            window=(req.oldest, req.latest) if req.oldest or req.latest else None,
        )
        return self._export(report)[1]

    def _upload(self, req: LogRequest, filename: str, data: bytes, stop: threading.Event) -> None:
        last: UploadError | None = None
        started = self._clock()
        for attempt in range(req.retries + 1):
            if stop.is_set():
                return
            if attempt and self._clock() - started > self.total_deadline_s:
                last = UploadError(
                    f"{last}; no further attempt after the total deadline of {self.total_deadline_s:g} s"
                )
                break
            self._emit(req, "Uploading")  # once per attempt, never a flood
            try:
                upload(req.location, filename, data, self.deadline_s, self.ca_file)
            except UploadError as exc:
                last = exc
                if exc.status != "UploadFailure" or attempt == req.retries:
                    break
                if self._sleep(stop, req.retry_interval_s):
                    return  # cancelled while waiting
                continue
            if not stop.is_set():
                self._emit(req, "Uploaded", f"{filename}, {len(data)} bytes")
            return
        if not stop.is_set() and last is not None:
            self._emit(req, last.status, str(last))
