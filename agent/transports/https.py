"""The HTTPS transport: upload a spooled report with the certificate verified; the answer is the receipt."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

from agent.config import BackendConfig
from agent.storage import read_bytes
from agent.transports.base import DeliveryError, Receipt, parse_receipt

log = logging.getLogger(__name__)


class HttpsTransport:
    """POST to backend.url; ready whenever a URL is configured."""

    name = "https"

    def __init__(self, backend: BackendConfig, device_id: str, meter=None):
        self.backend, self.device_id = backend, device_id
        self.http = client_for(backend, meter)

    def ready(self) -> bool:
        return bool(self.backend.url)

    def send(self, report_id: str, bundle: Path) -> Receipt:
        return upload(self.backend, report_id, bundle, self.device_id, self.http)


def content_digest(body: bytes) -> str:
    """RFC 9530 Content-Digest of the body."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def client_for(backend: BackendConfig, meter=None):
    """The backend's HTTP client (agent/transports/http.py): its TLS, its proxy, its redirect hosts; METER
    (the data budget, transports/budget.py) counts what crosses the link."""
    from agent.transports.http import HttpClient

    return HttpClient(tls(backend), backend.proxy or None, tuple(backend.redirect_hosts), meter)


def upload(backend: BackendConfig, report_id: str, bundle: Path, device_serial: str, client=None) -> Receipt:
    """POST the bundle (with CLIENT, else a client of its own); return the case receipt or raise DeliveryError."""
    from agent.transports import http

    if not backend.url:
        raise DeliveryError("no backend URL is configured (backend.url)", final=True)
    body = read_bytes(bundle)
    headers = {
        "Content-Type": "application/gzip",
        "Idempotency-Key": report_id,
        "Content-Digest": content_digest(body),
        "X-Device-Serial": device_serial,
    }
    client = client or client_for(backend)
    try:
        resp = client.request("POST", backend.url, body, headers, backend.connect_timeout_s, backend.timeout_s)
    except http.HttpError as exc:
        if exc.tls and "not yet valid" in str(exc):  # a Pi without a real-time clock, before NTP
            raise DeliveryError(
                "the box's clock is behind the backend's certificate (it is not yet valid by "
                "the box's time): the report waits until the clock is set by NTP",
                clock=True,
            ) from None
        if exc.tls and "certificate verify failed" in str(exc):
            raise DeliveryError(
                f"the backend's TLS certificate was not accepted ({exc}); check backend.ca_file and the backend address"
            ) from None
        if exc.tls:
            raise DeliveryError(
                f"the TLS handshake with the backend failed ({exc}); if it requires a client "
                "certificate, check backend.client_cert and backend.client_key"
            ) from None
        raise DeliveryError(f"backend not reachable: {exc}") from None
    if resp.status in (200, 201):
        return parse_receipt(report_id, resp.body, f"HTTP {resp.status}")
    if 300 <= resp.status < 400:  # not one a report may follow (307 and 308 are): the address is wrong
        raise DeliveryError(
            f"the backend answered with a redirect a report cannot follow (HTTP {resp.status} to "
            f"{resp.headers.get('location', '?')[:120]}); set backend.url to the new address",
            final=True,
        )
    retry_after = _retry_after(resp.headers.get("retry-after"))
    message = f"the backend refused the report: HTTP {resp.status} {_body_hint(resp)}"
    final = 400 <= resp.status < 500 and resp.status not in (408, 429)
    raise DeliveryError(message, final=final, retry_after=retry_after)


def tls(backend: BackendConfig):
    """The backend's TLS settings: its CA (else the system's) and the box's client certificate."""
    from agent.transports.http import Tls

    return Tls(backend.ca_file or None, backend.client_cert or None, backend.client_key or None)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import time
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _body_hint(resp) -> str:
    try:
        return str(resp.json().get("error", ""))[:200]
    except (ValueError, AttributeError):
        return resp.body[:200].decode(errors="replace").strip()


def cases_url(backend: BackendConfig, configured: str, device_id: str) -> str:
    """Where the box reads its cases: configured, or beside the upload URL (.../reports -> .../devices/ID/cases)."""
    if configured or not backend.url.rstrip("/").endswith("/reports"):
        return configured
    return backend.url.rstrip("/")[: -len("reports")] + f"devices/{device_id}/cases"


def fetch_cases(client, backend: BackendConfig, url: str, device_serial: str, max_bytes: int) -> list:
    """The box's cases as the backend keeps them, read with CLIENT (client_for(backend): the box's own
    credentials, like the upload), at most MAX_BYTES of them; DeliveryError when they cannot be read. Each
    case state is still checked by its seal (service/conversation.py)."""
    from agent import wire
    from agent.transports import http

    try:
        resp = client.request(
            "GET",
            url,
            headers={"X-Device-Serial": device_serial},
            connect_timeout_s=backend.connect_timeout_s,
            timeout_s=backend.timeout_s,
            max_bytes=max_bytes,
        )
        listing = wire.parse(resp.body, max_bytes, 8) if resp.status == 200 else None
        cases = listing.get("cases") if isinstance(listing, dict) else None
    except http.HttpError as exc:
        raise DeliveryError(f"cannot read the cases from {url}: {exc}") from None
    except wire.WireError:
        cases = None
    if not isinstance(cases, list):
        raise DeliveryError(
            f"the backend's cases at {url} are not readable: HTTP {resp.status} "
            f"{_body_hint(resp) if resp.status != 200 else ''}".strip()
        )
    return cases
