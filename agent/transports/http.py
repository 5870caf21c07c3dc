"""The one HTTP(S) client of the agent, on `requests` (the design card's): one Session per backend, so its
connections are kept and reused, with what a box on a commercial site meets: a proxy (from the environment,
HTTPS_PROXY and NO_PROXY, or `backend.proxy`, credentials included), redirects, compressed answers,
credentials in the URL, international host names. Certificates are checked against the backend's CA file,
else the system's store (Debian's ca-certificates, kept current by apt).

requests, urllib3 and idna cost the daemon about 6 MB resident; they are imported with the first exchange.
One deadline holds over the whole exchange: a server (or a proxy) that trickles a byte now and then is cut
off when it is up, whatever the per-read timeouts would allow."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.transports.budget import NO_METER

MAX_BODY = 4 << 20  # an answer larger than this is not one of ours
MAX_REDIRECTS = 5


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
    url: str = ""  # where the answer came from, after redirects

    def json(self):
        return json.loads(self.body)


@dataclass(frozen=True)
class Tls:
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class HttpClient:
    """Exchanges with one backend: its TLS settings, its PROXY (None: from the environment), and the other
    hosts it may redirect to (REDIRECT_HOSTS; its own host always). One exchange at a time."""

    def __init__(self, tls: Tls = Tls(), proxy: str | None = None, redirect_hosts: tuple[str, ...] = (), meter=None):
        self.tls = tls
        self.proxy = proxy or None
        self.redirect_hosts = tuple(h.lower() for h in redirect_hosts)
        self.meter = meter or NO_METER  # the data budget's (transports/budget.py): each exchange counted
        self._session: Any = None  # a requests.Session, made with the first exchange
        self._lock = threading.Lock()
        self._exchange: list = []  # the connections the exchange under way has taken (cut at its deadline)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict | None = None,
        connect_timeout_s: float = 10.0,
        timeout_s: float = 30.0,
        auth: tuple[str, str] | None = None,
        max_bytes: int = MAX_BODY,
    ) -> Response:
        """One exchange, redirects followed (307 and 308 keep the method and the body; 301, 302 and 303 only
        for a GET). TIMEOUT_S holds over all of it; an answer over MAX_BYTES is an error."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        with self._lock:
            expired = threading.Event()
            cutoff = threading.Timer(timeout_s, self._cut, (expired,))
            cutoff.daemon = True
            cutoff.start()
            try:
                resp = self._follow(method, url, body, headers or {}, (connect_timeout_s, timeout_s), auth, max_bytes)
                if expired.is_set():  # cut off mid-answer, what came may look whole: it is not
                    raise HttpError(f"timed out: no whole answer within {timeout_s:g} s")
                return resp
            except HttpError:
                if expired.is_set():
                    raise HttpError(f"timed out: no whole answer within {timeout_s:g} s") from None
                raise
            except Exception as exc:  # noqa: BLE001 - every failure of the exchange is "no answer", said in words
                if expired.is_set():
                    raise HttpError(f"timed out: no whole answer within {timeout_s:g} s") from None
                raise no_answer(exc) from None
            finally:
                cutoff.cancel()
                self._exchange.clear()

    def _follow(self, method, url, body, headers, timeouts, auth, max_bytes) -> Response:
        home = (urlsplit(url).hostname or "").lower()
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._one(method, url, body, headers, timeouts, auth, max_bytes)
            target = resp.headers.get("location")
            keeps = resp.status in (307, 308)
            if not target or not (keeps or (resp.status in (301, 302, 303) and method in ("GET", "HEAD"))):
                return resp
            from urllib.parse import urljoin

            url = urljoin(url, target)
            host = (urlsplit(url).hostname or "").lower()
            if host != home and host not in self.redirect_hosts:
                raise HttpError(
                    f"redirected to another host, {host} (HTTP {resp.status}); set the new address, or allow "
                    "the host in backend.redirect_hosts"
                )
            if urlsplit(url).scheme != "https" and urlsplit(resp.url).scheme == "https":
                raise HttpError(f"redirected from https to {urlsplit(url).scheme} (HTTP {resp.status}): refused")
        raise HttpError(f"more than {MAX_REDIRECTS} redirects")

    def _one(self, method, url, body, headers, timeouts, auth, max_bytes) -> Response:
        session = self._open()
        # The proxy as proxy_for() judges it (requests would read the same environment with the same rules).
        proxy = proxy_for(url, self.proxy or "")
        proxies = {"http": proxy, "https": proxy} if proxy else {}
        with session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=timeouts,
            auth=auth,
            proxies=proxies,
            allow_redirects=False,
            stream=True,
        ) as r:
            size, chunks = 0, []
            try:
                for chunk in r.iter_content(65536):  # decompressed, as the server's Content-Encoding says
                    size += len(chunk)
                    if size > max_bytes:
                        raise HttpError(f"the answer is larger than {max_bytes} bytes")
                    chunks.append(chunk)
            finally:  # what crossed the link: the body sent, and the answer as it came (compressed)
                self.meter.count(len(body or b"") + (r.raw.tell() if r.raw else size), exchanges=1)
            return Response(r.status_code, b"".join(chunks), {k.lower(): v for k, v in r.headers.items()}, r.url)

    def _open(self):
        if self._session is None:
            session = _requests().Session()
            adapter = _adapter(self)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
        return self._session

    def _taken(self, conn) -> None:
        self._exchange.append(conn)

    def _cut(self, expired: threading.Event) -> None:
        """The deadline is up: every connection of the exchange is shut, so whatever waits on it fails now."""
        expired.set()
        for conn in list(self._exchange):
            sock = getattr(conn, "sock", None)
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def proxy_for(url: str, configured: str = "") -> str | None:
    """The proxy an exchange with URL goes through: CONFIGURED (backend.proxy), else HTTPS_PROXY / HTTP_PROXY
    from the environment; none when NO_PROXY names the host. The one judgement of it: the client and the
    network check (health/network.py) both ask here."""
    from urllib.request import getproxies, proxy_bypass  # on Linux: the environment's NO_PROXY

    host = urlsplit(url).hostname if url else None
    if not host or proxy_bypass(host):
        return None
    return configured or getproxies().get(urlsplit(url).scheme) or None


def _requests():
    """requests, without the character-set guesser it would load (charset_normalizer, 2.1 MB resident): the
    agent reads JSON and bytes, never text whose encoding must be guessed (requests then has none to use,
    and says so in a warning we expect)."""
    import sys
    import warnings

    # Under the lock: another thread's first exchange may be importing it this moment, and a module half
    # imported is in sys.modules already (the release check once met a requests without Session).
    with _IMPORTING:
        if "requests" not in sys.modules:
            sys.modules.setdefault("charset_normalizer", None)  # type: ignore[arg-type]
            sys.modules.setdefault("chardet", None)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unable to find acceptable character detection")
            import requests
    return requests


_IMPORTING = threading.Lock()


def _adapter(client: HttpClient):
    """requests' adapter with the client's TLS context, whose pools tell the client each connection an
    exchange takes (for the deadline's cut), also through a proxy's tunnel."""
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Pool(HTTPConnectionPool):
        def _get_conn(self, timeout=None):
            conn = super()._get_conn(timeout)
            client._taken(conn)
            return conn

    class TlsPool(HTTPSConnectionPool):
        def _get_conn(self, timeout=None):
            conn = super()._get_conn(timeout)
            client._taken(conn)
            return conn

    pools = {"http": Pool, "https": TlsPool}

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["ssl_context"] = _context(client.tls)
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):
            kwargs.setdefault("ssl_context", _context(client.tls))
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = pools
            return manager

        def cert_verify(self, conn, url, verify, cert):
            pass  # the client's own context verifies: its CA file, else the system's store

    return Adapter(max_retries=0)


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None, tls: Tls = Tls(), **kw):
    """One exchange with a client of its own (an OCPP upload, a check): `HttpClient.request`'s arguments."""
    client = HttpClient(tls)
    try:
        return client.request(method, url, body, headers, **kw)
    finally:
        client.close()


def _context(tls: Tls):
    from agent.tls import TlsFilesError, client_context

    try:
        return client_context(tls.ca_file, tls.client_cert, tls.client_key)
    except TlsFilesError as exc:
        raise HttpError(str(exc), tls=True) from None


def no_answer(exc: BaseException) -> HttpError:
    """What went wrong, in a few words, from the innermost cause requests and urllib3 wrap it in."""
    import ssl

    found = _causes(exc)
    names = {type(c).__name__ for c in found}
    for c in found:
        if isinstance(c, ssl.SSLCertVerificationError):
            return HttpError(f"certificate verify failed ({c.verify_message})", tls=True)
    for c in found:
        if isinstance(c, ssl.SSLError):
            return HttpError(f"TLS handshake failed ({c.reason or c})", tls=True)
    if "ProxyError" in names:
        return HttpError(f"the proxy did not take the connection ({_words(found[-1])})")
    if names & {"ConnectTimeout", "ReadTimeout", "ReadTimeoutError", "ConnectTimeoutError", "TimeoutError", "timeout"}:
        return HttpError("timed out")
    if names & {"NameResolutionError", "gaierror", "LocationParseError"}:
        return HttpError("Name or service not known")
    if any(isinstance(c, ConnectionRefusedError) for c in found):
        return HttpError("Connection refused")
    return HttpError(_words(found[-1]))


def _causes(exc: BaseException) -> list[BaseException]:
    """EXC and what it wraps (urllib3's `reason`, requests' first argument, the chained causes), outermost
    first."""
    out: list[BaseException] = []
    todo: list[object] = [exc]
    while todo and len(out) < 20:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is o for o in out):
            continue
        out.append(e)
        todo += [getattr(e, "reason", None), *e.args, e.__cause__, e.__context__]
    return out


def _words(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {str(exc)[:160]}"
