"""HTTPS input: reports uploaded by boxes (POST /api/v1/reports), a box reading its cases, the releases, and the
helpdesk's webhook (a hint that a ticket changed)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from backend.rules import Rejected
from backend.rules.cases import CaseStore
from backend.seal import Sealer

log = logging.getLogger("intake")
MAX_UPLOAD = 20 << 20


class Refusals:
    """Test behaviour: refuse the next N uploads with a status (and a Retry-After)."""

    def __init__(self, count: int, status: int, retry_after: str | None):
        self.left = count
        self.status = status
        self.retry_after = retry_after
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


@dataclass(frozen=True)
class Intake:
    """What the HTTPS input hands requests to: the case rules' store, the releases it serves, the test's
    refusals, the sealer, and HINT(case number), told when a helpdesk webhook says a ticket changed."""

    store: CaseStore
    releases: dict[str, str]
    refusals: Refusals
    seal: Sealer
    hint: Callable[[str], None]


def make_handler(store: CaseStore, releases: dict[str, str], refusals: Refusals, seal: Sealer, hint):
    """A request handler class bound to the intake's parts (http.server makes one handler per request)."""
    return type("BoundHandler", (Handler,), {"intake": Intake(store, releases, refusals, seal, hint)})


class Handler(BaseHTTPRequestHandler):
    server_version = "support-intake/1"
    intake: Intake

    def log_message(self, format, *args):
        log.debug("%s " + format, self.address_string(), *args)

    def _answer(self, status: int, obj: dict, headers: dict | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        store = self.intake.store
        if self.path == "/api/v1/cases":
            self._answer(200, {"cases": store.cases})
        elif self.path == "/api/v1/stats":
            deliveries = sum(c["deliveries"] for c in store.cases)
            self._answer(200, {"cases": len(store.cases), "rejected": store.rejected, "deliveries": deliveries})
        elif parts[:3] == ["api", "v1", "devices"] and len(parts) == 5 and parts[4] == "cases":
            self._box_cases(parts[3])
        elif parts[:3] == ["api", "v1", "releases"] and len(parts) == 4 and parts[3] in self.intake.releases:
            self._release(parts[3])
        else:
            self._answer(404, {"error": "not found"})

    def _box_cases(self, box: str) -> None:
        """The box reads its own cases (the real backend knows it by its client certificate)."""
        store, seal = self.intake.store, self.intake.seal
        self._answer(200, {"cases": [seal("case", box, store.state_for_box(c)) for c in store.of_box(box)]})

    def _release(self, channel: str) -> None:
        version, _, notes = self.intake.releases[channel].partition(":")  # VERSION[:what the update changes]
        self._answer(200, {"channel": channel, "version": version, **({"notes": notes} if notes else {})})

    def do_POST(self):
        try:
            if self.path == "/api/v1/helpdesk/events":
                self._helpdesk_event()
                return
            if self.path != "/api/v1/reports":
                raise Rejected(404, "not found")
            body = self._read_body()
            refusals = self.intake.refusals
            if refusals.take():
                retry = {"Retry-After": refusals.retry_after} if refusals.retry_after else None
                self._answer(refusals.status, {"error": "refused for the test"}, retry)
                return
            receipt, new = self.intake.store.accept(body, self.headers.get("Idempotency-Key", ""), "https")
            self._answer(201 if new else 200, receipt)
        except Rejected as exc:
            self._answer(exc.status, {"error": str(exc)})

    def _helpdesk_event(self) -> None:
        """A helpdesk webhook (a new ticket, a follow-up): only a hint that the ticket changed. The intake
        reads the ticket itself from the helpdesk's API, so a forged hint costs one read, nothing more."""
        try:
            length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
            event = json.loads(self.rfile.read(length))
            ticket = (event.get("ticket") or {}).get("id") if isinstance(event, dict) else None
        except (ValueError, AttributeError):
            ticket = None
        number = self.intake.store.desk.number(ticket) if isinstance(ticket, int) else None
        if number:
            self.intake.hint(number)  # the rounds take it on their own thread; this only wakes them
        self._answer(202 if number else 422, {"case": number} if number else {"error": "no ticket id"})

    def _read_body(self) -> bytes:
        key = self.headers.get("Idempotency-Key", "")
        if not key or len(key) > 100:
            raise Rejected(400, "Idempotency-Key header (the report id) is required")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Rejected(411, "Content-Length is required") from None
        if not 0 < length <= MAX_UPLOAD:
            raise Rejected(413, f"body must be 1..{MAX_UPLOAD} bytes")
        body = self.rfile.read(length)
        digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        if self.headers.get("Content-Digest", "") != digest:
            raise Rejected(400, "Content-Digest does not match the body (sha-256)")
        return body
