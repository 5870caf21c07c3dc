"""Through any network: the box behind Debian's tinyproxy in a network namespace where only the proxy
reaches the backend (from the environment, and from backend.proxy with a login), NO_PROXY, and the HTTP
client against servers that redirect, compress, trickle, want URL credentials or have an international
name."""

from __future__ import annotations

import gzip
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.config import BackendConfig
from agent.transports.http import HttpClient, HttpError, Tls
from agent.transports.https import upload


# --- the client against servers that do what real ones do ----------------------------------------
class Behaviour(BaseHTTPRequestHandler):
    """Answers as the test's server must: the path says how."""

    seen: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.path == "/old":
            self.send_response(308)
            self.send_header("Location", "/api/v1/reports")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/elsewhere":
            self.send_response(307)
            self.send_header("Location", "https://localhost:1/api/v1/reports")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/trickle":
            self.wfile.write(b"HTTP/1.1 201 Created\r\n")
            for _ in range(40):
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.25)
        else:
            self._receipt(json.loads(body)["report_id"] if body.startswith(b"{") else "r1")

    def _receipt(self, report_id: str) -> None:
        data = gzip.compress(
            json.dumps({"case": "CASE-000009", "priority": "low", "report_id": report_id, "attached": False}).encode()
        )
        self.send_response(201)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(certs):
    Behaviour.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Behaviour)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs["cert"], certs["key"])
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def report_bundle(tmp_path: Path, report_id: str) -> Path:
    from tests.unit.test_cases import bundle

    path = tmp_path / f"{report_id}.tar.gz"
    path.write_bytes(bundle(report_id))
    return path


def test_a_308_keeps_the_post_and_a_gzip_201_is_a_receipt(server, certs, tmp_path):
    backend = BackendConfig(url=f"{server}/old", ca_file=certs["ca"])
    receipt = upload(backend, "20261203T000000Z-aaaa0001", report_bundle(tmp_path, "20261203T000000Z-aaaa0001"), "T")
    assert receipt.case == "CASE-000009"  # the gzip-encoded answer read as the JSON it is
    (first, second) = Behaviour.seen
    assert first[:2] == ("POST", "/old") and second[:2] == ("POST", "/api/v1/reports") and first[3] == second[3]


def test_a_redirect_to_another_host_is_refused_unless_configured(server, certs):
    client = HttpClient(Tls(certs["ca"]))
    with pytest.raises(HttpError, match="redirected to another host, localhost"):
        client.request("POST", f"{server}/elsewhere", b"{}")
    allowed = HttpClient(Tls(certs["ca"]), redirect_hosts=("localhost",))
    with pytest.raises(HttpError, match="Connection refused"):  # followed: port 1 on localhost answers nobody
        allowed.request("POST", f"{server}/elsewhere", b"{}")


def test_one_deadline_holds_over_a_trickling_answer(server, certs):
    client = HttpClient(Tls(certs["ca"]))
    # 10 s of trickle, each byte well within a read timeout: only the one deadline over the answer ends it.
    with pytest.raises(HttpError, match="no whole answer within 2 s"):
        client.request("POST", f"{server}/trickle", b"{}", connect_timeout_s=1, timeout_s=2)


def test_credentials_in_the_url_are_sent_and_an_international_name_goes_as_punycode(server, certs):
    user_url = server.replace("https://", "https://support:s3cret%21@") + "/api/v1/reports"
    HttpClient(Tls(certs["ca"])).request("POST", user_url, b'{"report_id": "r2"}')
    import base64

    assert Behaviour.seen[-1][2] == "Basic " + base64.b64encode(b"support:s3cret!").decode()
    # An IDNA host: the name asked of the resolver (through a proxy that sees it) is its punycode.
    seen: list[bytes] = []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _recorder(seen))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        client = HttpClient(Tls(certs["ca"]), proxy=f"http://127.0.0.1:{proxy.server_address[1]}")
        with pytest.raises(HttpError):
            client.request("GET", "https://straße.example/api", timeout_s=3)
        assert seen and seen[0].startswith(b"CONNECT xn--strae-oqa.example:443")
    finally:
        proxy.shutdown()


def _recorder(seen: list):
    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_CONNECT(self):
            seen.append(self.requestline.encode())
            self.send_error(502)

    return Refuse
