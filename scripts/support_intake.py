#!/usr/bin/env python3
"""The reference support intake: accepts report uploads over HTTPS (and MQTT), opens one case per report id.

    support_intake.py serve --store DIR --cert CERT --key KEY [--port 0] [--mqtt-host H --mqtt-port P]
    support_intake.py list --store DIR

The upload contract is documented in README.md ("The backend contract").
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agent.report.bundle import BundleError, read_bundle  # noqa: E402

log = logging.getLogger("intake")
MAX_UPLOAD = 20 << 20
PRIORITIES = ("high", "medium", "low")
SERVICE_TARGET = {
    "high": "first, Mon-Fri 08:00-16:00 (on-site help)",
    "medium": "within 1 working day",
    "low": "2-5 working days",
}


class Rejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class CaseStore:
    """Cases on disk: cases.json (rewritten atomically) and one stored bundle per report."""

    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "bundles").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.rejected = 0  # uploads refused as damaged or not matching: a sender bug or a broken transfer
        self.index = folder / "cases.json"
        self.cases: list[dict] = json.loads(self.index.read_text()) if self.index.exists() else []

    def _save(self) -> None:
        tmp = self.index.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.cases, indent=1))
        os.replace(tmp, self.index)

    def accept(self, body: bytes, report_id: str, transport: str) -> tuple[dict, bool]:
        """Verify a bundle and file it; the same report id always gets the same case."""
        try:
            manifest, _ = read_bundle(body)
        except BundleError as exc:
            self.rejected += 1
            raise Rejected(422, f"damaged bundle: {exc}") from None
        if manifest.get("report_id") != report_id:
            self.rejected += 1
            raise Rejected(422, "the bundle's report id does not match the Idempotency-Key")
        priority = manifest.get("priority") if manifest.get("priority") in PRIORITIES else "low"
        with self._lock:
            for case in self.cases:
                if case["report_id"] == report_id:
                    case["deliveries"] += 1
                    self._save()
                    return case, False
            path = self.folder / "bundles" / f"{report_id}.tar.gz"
            path.write_bytes(body)
            case = {
                "case": f"CASE-{len(self.cases) + 1:06d}",
                "report_id": report_id,
                "priority": priority,
                "on_site": bool(manifest.get("on_site")),
                "subject": str(manifest.get("subject", ""))[:120],
                "case_ref": manifest.get("case_ref"),
                "serial": str(manifest.get("device", {}).get("serial", "")),
                "received": time.time(),
                "transport": transport,
                "deliveries": 1,
                "sha256": hashlib.sha256(body).hexdigest(),
            }
            self.cases.append(case)
            self._save()
        log.info("case %s opened for report %s (%s priority, via %s)", case["case"], report_id, priority, transport)
        return case, True


class Refusals:
    """Test behaviour: refuse the next N uploads with a status (and a Retry-After)."""

    def __init__(self, count: int, status: int, retry_after: str | None):
        self.left, self.status, self.retry_after = count, status, retry_after
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def make_handler(store: CaseStore, releases: dict[str, str], refusals: Refusals):
    class Handler(BaseHTTPRequestHandler):
        server_version = "support-intake/1"

        def log_message(self, fmt, *args):
            log.debug("%s " + fmt, self.address_string(), *args)

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
            if self.path == "/api/v1/cases":
                self._answer(200, {"cases": store.cases})
            elif self.path == "/api/v1/stats":
                self._answer(200, {"cases": len(store.cases), "rejected": store.rejected,
                                   "deliveries": sum(c["deliveries"] for c in store.cases)})
            elif self.path.startswith("/api/v1/releases/") and self.path.split("/")[-1] in releases:
                channel = self.path.split("/")[-1]
                self._answer(200, {"channel": channel, "version": releases[channel]})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self):
            try:
                if self.path != "/api/v1/reports":
                    raise Rejected(404, "not found")
                body = self._read_body()
                if refusals.take():
                    self._answer(refusals.status, {"error": "refused for the test"},
                                 {"Retry-After": refusals.retry_after} if refusals.retry_after else None)
                    return
                case, new = store.accept(body, self.headers.get("Idempotency-Key", ""), "https")
                self._answer(201 if new else 200,
                             {"case": case["case"], "priority": case["priority"], "report_id": case["report_id"]})
            except Rejected as exc:
                self._answer(exc.status, {"error": str(exc)})

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

    return Handler


def start_mqtt(store: CaseStore, host: str, port: int, prefix: str):
    """Subscribe to <prefix>/+/report; answer each report on its response topic with the case."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"intake-{os.getpid()}",
                         protocol=mqtt.MQTTv5)

    def on_connect(c, userdata, flags, reason, props):
        c.subscribe(f"{prefix}/+/report/+", qos=1)

    def on_subscribe(c, userdata, mid, reasons, props):
        log.info("MQTT: subscribed to %s/+/report/+", prefix)

    def on_message(c, userdata, msg):
        props = getattr(msg, "properties", None)
        report_id = msg.topic.rsplit("/", 1)[1]  # <prefix>/<serial>/report/<report id>
        try:
            case, _ = store.accept(msg.payload, report_id, "mqtt")
            reply = {"case": case["case"], "priority": case["priority"], "report_id": report_id}
        except Rejected as exc:
            reply = {"error": str(exc), "report_id": report_id}
        serial_base = msg.topic.rsplit("/", 2)[0]
        response_topic = getattr(props, "ResponseTopic", None) or f"{serial_base}/receipt/{report_id}"
        out = Properties(PacketTypes.PUBLISH)
        if getattr(props, "CorrelationData", None):
            out.CorrelationData = props.CorrelationData
        c.publish(response_topic, json.dumps(reply), qos=1, properties=out)

    client.on_connect, client.on_message, client.on_subscribe = on_connect, on_message, on_subscribe
    client.connect(host, port)
    client.loop_start()
    return client


def serve(args) -> int:
    store = CaseStore(Path(args.store))
    releases = dict(r.split("=", 1) for r in args.release or ["stable=2.4.1"])
    refusals = Refusals(args.refuse, args.refuse_status, args.retry_after)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(store, releases, refusals))
    server.daemon_threads = True
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:  # mutual TLS: only boxes with a certificate from this CA may upload
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    mqtt_client = start_mqtt(store, args.mqtt_host, args.mqtt_port, args.topic_prefix) if args.mqtt_host else None
    port = server.server_address[1]

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"pid": os.getpid(), "port": port,
                      "url": f"https://{args.host}:{port}/api/v1/reports"}), flush=True)
    server.serve_forever()
    if mqtt_client:
        mqtt_client.loop_stop()
        mqtt_client.disconnect()
    return 0


def list_cases(args) -> int:
    index = Path(args.store) / "cases.json"
    cases = json.loads(index.read_text()) if index.exists() else []
    if not cases:
        print("no cases")
        return 0
    cases.sort(key=lambda c: (PRIORITIES.index(c["priority"]), c["received"]))
    print(f"{'case':<12} {'priority':<8} {'on-site':<7} {'received (UTC)':<20} {'subject':<40} service target")
    for c in cases:
        received = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(c["received"]))
        print(f"{c['case']:<12} {c['priority']:<8} {'yes' if c['on_site'] else 'no':<7} {received:<20} "
              f"{c['subject'][:40]:<40} {SERVICE_TARGET[c['priority']]}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--store", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--client-ca", help="require client certificates signed by this CA (mutual TLS)")
    s.add_argument("--mqtt-host")
    s.add_argument("--mqtt-port", type=int, default=1883)
    s.add_argument("--topic-prefix", default="diag-agent")
    s.add_argument("--refuse", type=int, default=0, help="refuse the first N uploads (for tests)")
    s.add_argument("--refuse-status", type=int, default=503)
    s.add_argument("--retry-after", help="Retry-After header on refused uploads")
    s.add_argument("--release", action="append", metavar="CHANNEL=VERSION",
                   help="the newest version of a channel, served at /api/v1/releases/CHANNEL (default stable=2.4.1)")
    ls = sub.add_parser("list")
    ls.add_argument("--store", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="intake: %(message)s", stream=sys.stderr)
    return serve(args) if args.cmd == "serve" else list_cases(args)


if __name__ == "__main__":
    sys.exit(main())
