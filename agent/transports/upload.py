"""Uploads to a location someone else names (an OCPP CSMS's GetLog/GetDiagnostics `remoteLocation`): HTTP and
HTTPS (PUT; POST where the URL's query says `method=post`), FTP and FTPS (explicit TLS, passive mode, a broken
upload resumed where the server allows it). One attempt per call, within a deadline; the caller retries.

Credentials in the URL (ftp://user:password@host/...) are used, never logged: every message names the
location without them (`shown`)."""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

SCHEMES = ("http", "https", "ftp", "ftps")
MAX_LOCATION = 512  # OCPP: remoteLocation is string[0..512]


class UploadError(Exception):
    """An upload that did not complete. STATUS is the OCPP upload status it means: UploadFailure (try again),
    PermissionDenied (the server refused our credentials), NotSupportedOperation (it does not take uploads
    this way), BadMessage (the location itself is wrong)."""

    def __init__(self, message: str, status: str = "UploadFailure"):
        super().__init__(message)
        self.status = status


@dataclass
class Location:
    scheme: str
    host: str
    port: int | None
    path: str
    user: str
    password: str
    method: str  # PUT or POST (HTTP)
    url: str  # without the user information (given to the HTTP client apart, as auth)
    shown: str  # what messages and logs may say


def parse_location(url: object) -> Location:
    """A checked upload location; UploadError(status BadMessage) when it cannot be one."""
    if not isinstance(url, str) or not url or len(url) > MAX_LOCATION:
        raise UploadError(f"the location must be a URL of at most {MAX_LOCATION} characters", "BadMessage")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UploadError(f"the location is not a URL: {exc}", "BadMessage") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise UploadError(f"the location must be {', '.join(SCHEMES)}://host/...", "BadMessage")
    decoded = unquote(url)  # %0d%0a in a path or a user would become a second FTP command
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in url + decoded):
        raise UploadError("the location holds control characters", "BadMessage")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc += f":{port}" if port else ""
    method = "POST" if parse_qs(parts.query).get("method", [""])[0].lower() == "post" else "PUT"
    clean = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Location(
        parts.scheme,
        parts.hostname,
        port,
        unquote(parts.path or "/"),
        unquote(parts.username or ""),
        unquote(parts.password or ""),
        method,
        clean,
        urlunsplit((parts.scheme, netloc, parts.path, "", "")),
    )


def upload(location: Location, filename: str, data: bytes, deadline_s: float, ca_file: str | None = None) -> None:
    """Put DATA at LOCATION as FILENAME (appended when the location ends with '/'); raise UploadError."""
    if location.scheme in ("http", "https"):
        _http(location, filename, data, deadline_s, ca_file)
    else:
        _ftp(location, filename, data, deadline_s, ca_file)


def _http(loc: Location, filename: str, data: bytes, deadline_s: float, ca_file: str | None) -> None:
    from agent.transports.http import HttpError, Tls, request

    url = loc.url
    if urlsplit(url).path.endswith("/"):
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path + filename, parts.query, ""))
    try:
        resp = request(
            loc.method,
            url,
            data,
            {"Content-Type": "application/gzip"},
            Tls(ca_file),
            connect_timeout_s=min(10.0, deadline_s),
            timeout_s=deadline_s,
            auth=(loc.user, loc.password) if loc.user else None,
        )
    except HttpError as exc:
        raise UploadError(f"{loc.shown}: {exc}") from None
    if resp.status in (401, 403):
        raise UploadError(f"{loc.shown}: HTTP {resp.status}", "PermissionDenied")
    if resp.status in (405, 501):
        raise UploadError(f"{loc.shown}: HTTP {resp.status}", "NotSupportedOperation")
    if not 200 <= resp.status < 300:
        raise UploadError(f"{loc.shown}: HTTP {resp.status}")


def _ftp(loc: Location, filename: str, data: bytes, deadline_s: float, ca_file: str | None) -> None:
    """FTP or FTPS (explicit: AUTH TLS, then a protected data channel), passive mode. When the server already
    holds part of the file (a broken earlier attempt), the rest is sent from there (REST), if it allows."""
    import ftplib

    from agent.tls import client_context

    started = time.monotonic()
    cutoff = None
    try:
        ftp: ftplib.FTP
        if loc.scheme == "ftps":
            ftp = ftplib.FTP_TLS(context=client_context(ca_file), timeout=min(30.0, deadline_s))
        else:
            ftp = ftplib.FTP(timeout=min(30.0, deadline_s))
        # The deadline holds over the whole transfer: a server that trickles its replies a byte at a time never
        # lets a per-read timeout run out, so its connection is cut when the time is up.
        cutoff = threading.Timer(deadline_s, _cut, (ftp,))
        cutoff.daemon = True
        cutoff.start()
        with ftp:
            _ftp_store(ftp, loc, filename, data, started + deadline_s)
    except UploadError:
        raise
    except ftplib.error_perm as exc:
        raise UploadError(f"{loc.shown}: {str(exc)[:120]}", _ftp_status(str(exc)[:3])) from None
    except (TimeoutError, ftplib.Error, OSError, EOFError, ValueError) as exc:
        if time.monotonic() - started >= deadline_s:
            raise UploadError(f"{loc.shown}: not done within the deadline of {deadline_s:g} s") from None
        raise UploadError(f"{loc.shown}: {type(exc).__name__}: {str(exc)[:120]}") from None
    finally:
        if cutoff is not None:
            cutoff.cancel()


def _ftp_store(ftp, loc: Location, filename: str, data: bytes, deadline: float) -> None:
    """Log in, go to the folder and store DATA as the file named, resuming where the server's copy ends."""
    import ftplib

    def in_time(_block: bytes) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError

    folder, name = (loc.path, filename) if loc.path.endswith("/") else loc.path.rsplit("/", 1)
    ftp.connect(loc.host, loc.port or 21)
    ftp.login(loc.user or "anonymous", loc.password or "anonymous@")
    if isinstance(ftp, ftplib.FTP_TLS):
        ftp.prot_p()
    ftp.set_pasv(True)
    if folder.strip("/"):
        ftp.cwd(folder)
    ftp.voidcmd("TYPE I")
    offset = _remote_size(ftp, name)
    if offset >= len(data):
        offset = 0  # a stale or foreign file of that name: replace it whole
    if time.monotonic() > deadline:
        raise UploadError(f"{loc.shown}: no time left for the transfer")
    ftp.storbinary(f"STOR {name}", io.BytesIO(data[offset:]), rest=offset or None, callback=in_time)


def _ftp_status(code: str) -> str:
    """The OCPP upload status of an FTP refusal. 502 and 504: the server does not do that (it will not change by
    asking again). 500 is a syntax error by the book but vsftpd's "500 OOPS" for its own failures: that one is
    worth another attempt."""
    if code in ("530", "550", "553"):
        return "PermissionDenied"
    if code in ("502", "504"):
        return "NotSupportedOperation"
    return "UploadFailure"


def _cut(ftp) -> None:
    """The deadline is up: the control connection ends, so whatever ftplib waits for on it fails at once (a
    block on the data connection waits at most its own timeout, and the next block is not sent)."""
    import socket

    try:
        if ftp.sock is not None:
            ftp.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _remote_size(ftp, name: str) -> int:
    import ftplib

    try:
        return ftp.size(name) or 0
    except (ftplib.error_perm, ftplib.error_reply):  # no such file yet, or SIZE not offered
        return 0
