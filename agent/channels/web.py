"""The local-page channel: the web page and its JSON API, for the owner, the installer and the firmware's own GUI.

Served on 127.0.0.1 by default; a LAN address needs a token (Authorization: Bearer, or the cookie
that GET /?token=... sets). Writes must be JSON with the header X-Requested-With: diag-agent and,
when the browser sends one, an Origin of this very page: a cross-site form can do neither.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from agent.channels import Desk, OnSiteSwitch, StatusSource
from agent.config import WebConfig
from agent.report.request import RequestError, check_request

log = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parent / "static" / "index.html"
MAX_BODY = 16 * 1024
REPORT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


class HTTPError(Exception):
    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status, self.errors = status, errors


def make_handler(cfg: WebConfig, desk: Desk, onsite: OnSiteSwitch, status: StatusSource):
    class Handler(BaseHTTPRequestHandler):
        server_version = "diag-agent"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one line per request at debug level; never a token
            # Also called for requests too broken to parse, which have no command or path.
            log.debug("web %s %s", getattr(self, "command", None), urlsplit(getattr(self, "path", "") or "").path)

        # --- plumbing -------------------------------------------------------------------
        def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
            self.send_response(status)
            headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                       "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                       "Referrer-Policy": "no-referrer",
                       "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                                  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"}
            for k, v in {**headers, **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: dict, extra: dict | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json", extra)

        def _authorised(self) -> bool:
            if not cfg.token:
                return True
            given = ""
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                given = auth[7:]
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "diag_token":
                    given = given or value
            return hmac.compare_digest(given.encode(), cfg.token.encode())

        def _guard(self, write: bool) -> None:
            host, port = self.headers.get("Host", ""), self.server.server_address[1]
            if not cfg.token and host not in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
                # A loopback page answers only to its own names: no DNS rebinding into it.
                raise HTTPError(403, "unexpected Host")
            if not self._authorised():
                raise HTTPError(401, "a token is needed")
            if write:
                origin = self.headers.get("Origin")
                if origin is not None and urlsplit(origin).netloc != host:
                    raise HTTPError(403, "cross-site request refused")
                if self.headers.get("X-Requested-With") != "diag-agent":
                    raise HTTPError(403, "cross-site request refused: X-Requested-With: diag-agent is missing")
                if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                    raise HTTPError(415, "send JSON")

        def _body(self) -> dict:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                raise HTTPError(411, "Content-Length is required") from None
            if not 0 <= length <= MAX_BODY:
                raise HTTPError(413, f"at most {MAX_BODY} bytes")
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise HTTPError(400, "not valid JSON") from None
            if not isinstance(body, dict):
                raise HTTPError(400, "expected a JSON object")
            return body

        def _run(self, write: bool, route) -> None:
            try:
                self._guard(write)
                route()
            except HTTPError as exc:
                obj = {"ok": False, "error": str(exc)}
                if exc.errors:
                    obj["errors"] = exc.errors
                self._json(exc.status, obj)
            except Exception:  # never a traceback to the browser, never a dead server
                log.exception("web request failed")
                self._json(500, {"ok": False, "error": "internal error; see the agent's log"})

        # --- routes ---------------------------------------------------------------------
        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/" and "token" in parse_qs(url.query) and cfg.token:
                token = parse_qs(url.query)["token"][0]
                if hmac.compare_digest(token.encode(), cfg.token.encode()):
                    self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie":
                               f"diag_token={token}; HttpOnly; SameSite=Strict; Path=/"})
                    return
            self._run(False, lambda: self._get(url.path))

        do_HEAD = do_GET

        def _get(self, path: str) -> None:
            if path == "/":
                self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif path == "/api/status":
                self._json(200, {"ok": True, **status.web_status()})
            elif path == "/api/reports":
                self._json(200, {"ok": True, "reports": desk.list()})
            elif m := re.match(r"^/api/reports/([^/]+)(/bundle)?$", path):
                report_id = m.group(1)
                if not REPORT_ID.match(report_id):
                    raise HTTPError(404, "no such report")
                if m.group(2):
                    bundle = desk.bundle(report_id)
                    if bundle is None:
                        raise HTTPError(404, "no such report in the outbox")
                    self._send(200, bundle.read_bytes(), "application/gzip",
                               {"Content-Disposition": f'attachment; filename="diag-report-{report_id}.tar.gz"'})
                    return
                state = desk.state(report_id)
                if state is None:
                    raise HTTPError(404, "no such report")
                self._json(200, {"ok": True, **state})
            else:
                raise HTTPError(404, "not found")

        def do_POST(self):
            self._run(True, lambda: self._post(urlsplit(self.path).path))

        def _post(self, path: str) -> None:
            if path == "/api/report":
                try:
                    request = check_request(self._body(), "local")
                except RequestError as exc:
                    raise HTTPError(422, "please check the form", exc.errors) from None
                try:
                    report_id = desk.submit(request)
                except ValueError as exc:
                    raise HTTPError(503, str(exc)) from None
                self._json(202, {"ok": True, "report_id": report_id})
            elif path == "/api/onsite":
                body = self._body()
                if set(body) != {"on"} or not isinstance(body["on"], bool):
                    raise HTTPError(422, "expected {\"on\": true or false}")
                onsite.set(body["on"], "local")
                self._json(200, {"ok": True, "onsite": onsite.to_dict()})
            else:
                raise HTTPError(404, "not found")

        def do_PUT(self):
            self._run(True, self._not_allowed)

        do_DELETE = do_PATCH = do_OPTIONS = do_PUT

        def _not_allowed(self) -> None:
            raise HTTPError(405, "method not allowed")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # socketserver prints a traceback to stderr; one line in the log is what a box needs.
        import sys

        log.warning("web: a request from %s failed: %s", client_address[0], sys.exc_info()[1])


class WebServer:
    def __init__(self, cfg: WebConfig, desk: Desk, onsite: OnSiteSwitch, status: StatusSource):
        self._server = _Server((cfg.host, cfg.port), make_handler(cfg, desk, onsite, status))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="web", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("local page on http://%s:%d/", self._server.server_address[0], self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
