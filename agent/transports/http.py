"""The one HTTP(S) client of the agent, on the standard library (http.client and ssl).

`requests` cost the daemon about 7 MB resident (urllib3, charset_normalizer, idna, certifi, email) for
three small exchanges: upload a report, read the cases, read the newest release. ssl is loaded anyway
(asyncio, paho), so this costs next to nothing. Certificates are checked against backend.ca_file, else
the system's store (Debian's ca-certificates, kept current by apt).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_BODY = 4 << 20  # an answer larger than this is not one of ours


class HttpError(Exception):
    """No answer came; the message is the reason in a few words ("certificate verify failed", ...)."""

    def __init__(self, reason: str, tls: bool = False):
        super().__init__(reason)
        self.tls = tls  # the TLS handshake failed (certificate or client certificate)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict = field(default_factory=dict)  # names in lower case

    def json(self):
        return json.loads(self.body)


@dataclass(frozen=True)
class Tls:
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict | None = None,
    tls: Tls = Tls(),
    connect_timeout_s: float = 10.0,
    timeout_s: float = 30.0,
    auth: tuple[str, str] | None = None,
    max_bytes: int = MAX_BODY,
) -> Response:
    """One exchange with a fresh connection; AUTH (user, password) goes as Basic authentication. TIMEOUT_S
    holds for the whole exchange after the connection (a server that trickles a byte now and then is cut off
    all the same); an answer over MAX_BYTES is an error."""
    import http.client

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    expired = threading.Event()
    try:
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=connect_timeout_s, context=_context(tls)
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect_timeout_s)
        try:
            conn.connect()
            sock, deadline = conn.sock, time.monotonic() + timeout_s  # conn lets go of sock once it closes
            # A server that trickles its answer a byte at a time never lets a per-read timeout run out: when the
            # time is up the connection is cut, so whatever waits on it fails at once.
            cutoff = threading.Timer(timeout_s, _cut, (sock, expired))
            cutoff.daemon = True
            cutoff.start()
            try:
                sock.settimeout(timeout_s)
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                data = _read(resp, sock, deadline, max_bytes)
            finally:
                cutoff.cancel()
            return Response(resp.status, data, {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()
    except HttpError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of the exchange is "no answer", said in words
        if expired.is_set():
            raise HttpError(f"timed out: no whole answer within {timeout_s:g} s") from None
        raise _no_answer(exc) from None


def _cut(sock: socket.socket, expired: threading.Event) -> None:
    expired.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _read(resp, sock, deadline: float, max_bytes: int) -> bytes:
    """The answer's body in pieces, each read within what is left of the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        sock.settimeout(_left(deadline))
        chunk = resp.read1(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise HttpError(f"the answer is larger than {max_bytes} bytes")
        chunks.append(chunk)


def _context(tls: Tls):
    from agent.tls import TlsFilesError, client_context

    try:
        return client_context(tls.ca_file, tls.client_cert, tls.client_key)
    except TlsFilesError as exc:
        raise HttpError(str(exc), tls=True) from None


def _no_answer(exc: Exception) -> HttpError:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return HttpError(f"certificate verify failed ({exc.verify_message})", tls=True)
    if isinstance(exc, ssl.SSLError):
        return HttpError(f"TLS handshake failed ({exc.reason or exc})", tls=True)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return HttpError("timed out")
    if isinstance(exc, socket.gaierror):
        return HttpError("Name or service not known")
    if isinstance(exc, ConnectionRefusedError):
        return HttpError("Connection refused")
    if isinstance(exc, OSError) and exc.strerror:
        return HttpError(exc.strerror)
    return HttpError(f"{type(exc).__name__}: {str(exc)[:160]}")
