"""The local-page channel: the web page and its JSON API, for the owner, the installer and the firmware's
own GUI, served by waitress (a bounded, well-kept WSGI server) with a small app of our own.

Served on 127.0.0.1 by default; a LAN address needs a token (Authorization: Bearer, or the cookie
that GET /?token=... sets). Writes must be JSON with the header X-Requested-With: diag-agent and,
when the browser sends one, an Origin of this very page: a cross-site form can do neither.

Why waitress: it parses requests strictly, reads a whole body before the app sees the request (so a
refused body is never taken for a second request), closes a connection after an error, holds a
fixed number of worker threads and connections, and times out idle clients; http.server does none
of that by itself.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from agent.cases import CaseError
from agent.cases.photos import MAX_BYTES as MAX_PHOTO
from agent.channels import Conversation, Desk, OnSiteSwitch, StatusSource
from agent.config import WebConfig
from agent.lang import Told
from agent.ratelimit import RateLimit
from agent.request import RequestError, check_request
from agent.storage import read_bytes

log = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parent / "static" / "index.html"
MAX_BODY = 16 * 1024
REPORT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
# Bounds that keep a flood of clients from taking the box's file descriptors or memory.
THREADS = 2  # two: a page and an API call at once
CONNECTION_LIMIT = 64
IDLE_TIMEOUT_S = 15
SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    ),
]


class HTTPError(Told):
    """A refusal with its HTTP status, said in the reader's language (KEY: page.errors); ERRORS: per field."""

    def __init__(self, status: int, key: str, fill: dict | None = None, errors: RequestError | None = None):
        super().__init__(key, fill)
        self.status, self.errors = status, errors


class Request:
    """What the app reads of one WSGI request."""

    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO", "") or "/"
        self.query = parse_qs(environ.get("QUERY_STRING", ""))

    def header(self, name: str) -> str:
        key = name.upper().replace("-", "_")
        return self.environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}", "")

    def raw_body(self, most: int) -> bytes:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise HTTPError(411, "length_required") from None
        if not 0 <= length <= most:
            raise HTTPError(413, "too_large", {"most": most})
        return self.environ["wsgi.input"].read(length)

    def json_body(self) -> dict:
        try:
            body = json.loads(self.raw_body(MAX_BODY) or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise HTTPError(400, "not_json") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "json_object")
        return body


# --- guards in front of the page and its API -----------------------------------------------------
def authorised(token: str, req: Request) -> bool:
    """No token configured (a loopback page), or the right one as a bearer token or the page's cookie."""
    if not token:
        return True
    given = ""
    auth = req.header("Authorization")
    if auth.startswith("Bearer "):
        given = auth[7:]
    for part in req.header("Cookie").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "diag_token":
            given = given or value
    return hmac.compare_digest(given.encode(), token.encode())


def guard(req: Request, write: bool, token: str, port: int, security: Callable[[str, str], None]) -> None:
    """Refuse (HTTPError) what the page must not answer: a foreign Host on a loopback page (DNS rebinding), a
    missing token, and for WRITE a cross-site request or a body that is neither JSON nor a photo."""
    host = req.header("Host")
    if not token and host not in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        raise HTTPError(403, "unexpected_host")
    if not authorised(token, req):
        security(
            "page_token_refused",
            f"the local page refused a request from {req.environ.get('REMOTE_ADDR', '?')}: no valid token",
        )
        raise HTTPError(401, "token_needed")
    if write:
        origin = req.header("Origin")
        if origin and urlsplit(origin).netloc != host:
            raise HTTPError(403, "cross_site")
        if req.header("X-Requested-With") != "diag-agent":
            raise HTTPError(403, "cross_site_header")
        kind = req.header("Content-Type").split(";")[0].strip()
        if kind != "application/json" and not (req.path == "/api/photo" and kind in ("image/jpeg", "image/png")):
            raise HTTPError(415, "send_json_or_photo" if req.path == "/api/photo" else "send_json")


def language_of(req: Request, default: str) -> str:
    """The reader's language: the one asked for (?lang=de), else the browser's choice, else the box's DEFAULT."""
    from agent.lang import languages, pick

    asked = req.query.get("lang", [""])[0]
    return asked if asked in languages() else pick(req.header("Accept-Language"), default)


def words(req: Request, language: str, zone: str) -> dict:
    """The page's words, in the reader's language."""
    from agent.lang import languages, load

    chosen = language_of(req, language)
    return {"ok": True, "language": chosen, "languages": languages(), "timezone": zone, "words": load(chosen)["page"]}


def token_page(language: str) -> bytes:
    """What a person sees who opens the page without its token: where to find it, in their language."""
    from html import escape

    from agent.lang import load

    w = load(language)["page"]["token_page"]
    items = "".join(f"<li>{escape(w[k])}</li>" for k in ("sticker", "app", "command"))
    return (
        f'<!DOCTYPE html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(w['title'])}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:640px;"
        f"margin:24px auto;padding:0 16px;color:#222}}</style></head><body><h1>{escape(w['title'])}</h1>"
        f"<p>{escape(w['why'])}</p><ul>{items}</ul><p>{escape(w['then'])}</p></body></html>"
    ).encode()


def one_report(desk: Desk, talk: Conversation, report_id: str, bundle: bool):
    """GET /api/reports/ID: a report's state; with /bundle, the report itself to take away by hand."""
    if not REPORT_ID.match(report_id):
        raise HTTPError(404, "no_such_report")
    if bundle:
        path = desk.bundle(report_id)
        if path is None:
            raise HTTPError(404, "not_in_outbox")
        disposition = f'attachment; filename="{talk.file_name(report_id)}"'
        try:
            body = read_bytes(path)  # never through a symlink planted in the outbox
        except OSError:
            raise HTTPError(404, "not_in_outbox") from None
        return 200, [("Content-Type", "application/gzip"), ("Content-Disposition", disposition)], body
    state = desk.state(report_id)
    if state is None:
        raise HTTPError(404, "no_such_report")
    return 200, [("Content-Type", "application/json")], json.dumps({"ok": True, **state}).encode()


class PageApp:
    """The WSGI app: the page, its JSON API, and the guards in front of both."""

    def __init__(
        self,
        cfg: WebConfig,
        desk: Desk,
        onsite: OnSiteSwitch,
        status: StatusSource,
        port: int,
        talk: Conversation,
        locale: tuple[str, str] = ("en", "UTC"),
        security: Callable[[str, str], None] = lambda kind, message: None,
    ):
        self.cfg = cfg
        self.desk = desk
        self.onsite = onsite
        self.status = status
        self.talk = talk
        self.port = port  # the box's language and time zone
        self.locale = locale
        self.security = security
        self.reports = RateLimit(cfg.reports_per_hour, 3600.0)  # reports the page may send in an hour

    def __call__(self, environ, start_response):
        req = Request(environ)
        try:
            if req.method in ("GET", "HEAD"):
                status, headers, body = self._get(req)
            elif req.method == "POST":
                self._guard(req, True)
                status, headers, body = self._post(req)
            else:
                self._guard(req, True)
                raise HTTPError(405, "method")
        except (CaseError, HTTPError) as exc:
            # Said in the reader's language. waitress has read the whole body by Content-Length before the app
            # runs: a refused body is never parsed as a second request on the same connection.
            language = language_of(req, self.locale[0])
            obj: dict = {"ok": False, "error": exc.words(language)}
            if isinstance(exc, HTTPError) and exc.errors:
                obj["errors"] = exc.errors.in_words(language)
            status = exc.status
            headers = [("Content-Type", "application/json")]
            body = json.dumps(obj).encode()
            if status == 401 and req.path == "/":  # a person opened the page: tell them where the token is
                headers, body = [("Content-Type", "text/html; charset=utf-8")], token_page(language)
        except Exception:  # never a traceback to the browser, never a dead server
            log.exception("web request failed")
            status, headers = 500, [("Content-Type", "application/json")]
            error = Told("internal").words(language_of(req, self.locale[0]))
            body = json.dumps({"ok": False, "error": error}).encode()
        log.debug("web %s %s %d", req.method, req.path, status)
        start_response(
            f"{status} {HTTPStatus(status).phrase}", headers + SECURITY_HEADERS + [("Content-Length", str(len(body)))]
        )
        return [b"" if req.method == "HEAD" else body]

    def _within_limit(self) -> None:
        """At most reports_per_hour reports from the page: the rest are refused with a clear message and a line
        in the security log (the log's own limit keeps a flood to a line)."""
        allowed, _ = self.reports.allow()
        if not allowed:
            most, minutes = self.cfg.reports_per_hour, max(1, round(self.reports.wait_s() / 60))
            self.security("page_reports_limited", f"the local page asked for more than {most} reports in an hour")
            raise HTTPError(429, "too_many_reports", {"most": most, "minutes": minutes})

    def _guard(self, req: Request, write: bool) -> None:
        guard(req, write, self.cfg.token or "", self.port, self.security)

    # --- routes ---------------------------------------------------------------------------
    @staticmethod
    def _json(obj: dict, status: int = 200):
        return status, [("Content-Type", "application/json")], json.dumps(obj).encode()

    def _get(self, req: Request):
        if req.path == "/" and self.cfg.token and "token" in req.query:
            token = req.query["token"][0]
            if hmac.compare_digest(token.encode(), self.cfg.token.encode()):
                return (
                    303,
                    [
                        ("Location", "/"),
                        ("Content-Type", "text/plain"),
                        ("Set-Cookie", f"diag_token={token}; HttpOnly; SameSite=Strict; Path=/"),
                    ],
                    b"",
                )
        self._guard(req, False)
        if req.path == "/":
            return 200, [("Content-Type", "text/html; charset=utf-8")], PAGE.read_bytes()
        if req.path == "/api/status":
            return self._json({"ok": True, **self.status.web_status(language_of(req, self.locale[0]))})
        if req.path == "/api/reports":
            return self._json({"ok": True, "reports": self.desk.list()})
        if req.path == "/api/cases":
            return self._json({"ok": True, **self.talk.view()})
        if req.path == "/api/words":
            return self._json(words(req, *self.locale))
        if m := re.match(r"^/api/reports/([^/]+)(/bundle)?$", req.path):
            return one_report(self.desk, self.talk, m.group(1), bool(m.group(2)))
        raise HTTPError(404, "not_found")

    def _post(self, req: Request):
        if req.path == "/api/report":
            try:
                request = check_request(req.json_body(), "local")
            except RequestError as exc:
                raise HTTPError(422, "check_form", errors=exc) from None
            self._within_limit()
            try:
                report_id = self.desk.submit(request)
            except ValueError as exc:
                raise HTTPError(503, "not_taken", {"detail": str(exc)}) from None
            return self._json({"ok": True, "report_id": report_id}, 202)
        if req.path == "/api/onsite":
            body = req.json_body()
            if set(body) != {"on"} or not isinstance(body["on"], bool):
                raise HTTPError(422, "onsite_body")
            self.onsite.set(body["on"], "local")
            return self._json({"ok": True, "onsite": self.onsite.to_dict()})
        if req.path == "/api/answer":
            body = req.json_body()
            return self._json(
                {
                    "ok": True,
                    **self.talk.answer(
                        body.get("case"), body.get("question"), body.get("text"), body.get("with_report") is True
                    ),
                },
                202,
            )
        if req.path == "/api/feedback":
            body = req.json_body()
            return self._json({"ok": True, **self.talk.feedback(body.get("case"), body.get("easy"))}, 202)
        if req.path == "/api/retry":
            return self._json({"ok": True, "report": self.talk.retry(req.json_body().get("report_id"))})
        if req.path == "/api/photo":
            return self._json(
                {
                    "ok": True,
                    **self.talk.add_photo(
                        req.query.get("case", [None])[0],
                        req.query.get("label", [None])[0],
                        req.raw_body(MAX_PHOTO),
                        req.query.get("question", [None])[0],
                    ),
                },
                202,
            )
        raise HTTPError(404, "not_found")


class WebServer:
    def __init__(
        self,
        cfg: WebConfig,
        desk: Desk,
        onsite: OnSiteSwitch,
        status: StatusSource,
        talk: Conversation,
        locale: tuple[str, str] = ("en", "UTC"),
        security: Callable[[str, str], None] = lambda k, m: None,
    ):
        from agent.channels.guard import guarded_server  # waitress, with a deadline per request

        listen = f"[{cfg.host}]:{cfg.port}" if ":" in cfg.host else f"{cfg.host}:{cfg.port}"
        self.app = PageApp(cfg, desk, onsite, status, cfg.port, talk, locale, security)
        self._server = guarded_server(
            self.app,
            listen=listen,
            threads=THREADS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_TIMEOUT_S,
            cleanup_interval=5,
            max_request_body_size=MAX_PHOTO,
            max_request_header_size=16 * 1024,
            asyncore_use_poll=True,
            ident="diag-agent",
            clear_untrusted_proxy_headers=True,
            expose_tracebacks=False,
        )
        self.port = int(self._server.effective_port)
        self.app.port = self.port
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:  # the page is a convenience: its failure must never end the daemon
            log.exception("the local page stopped")

    def start(self) -> None:
        self._thread.start()
        log.info("local page on http://%s:%d/", self.app.cfg.host, self.port)

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listening socket and every open connection, end waitress's worker threads and the loop."""
        self._server.close()
        for channel in list(self._server._map.values()):  # the loop runs while any connection is open
            channel.close()
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        if self._thread.is_alive():
            self._thread.join(timeout)
