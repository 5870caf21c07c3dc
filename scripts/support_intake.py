#!/usr/bin/env python3
"""The reference support intake: takes reports over HTTPS, MQTT and e-mail into cases, and talks back.

    support_intake.py serve --store DIR --cert CERT --key KEY [--port 0] [--mqtt-host H --mqtt-port P]
                            [--smtp-port P] [--chase-days N]
    support_intake.py list --store DIR
    support_intake.py show --store DIR CASE [--json]
    support_intake.py ask|tell --store DIR CASE TEXT     support asks the box a question / tells it something
    support_intake.py solve --store DIR CASE
    support_intake.py chase --store DIR [--now 2026-12-03T09:00:00+00:00]

The contract is documented in README.md ("The backend contract"); the case rules in intake_cases.py.
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

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from intake_cases import PRIORITIES, CaseStore, Rejected  # noqa: E402

log = logging.getLogger("intake")
MAX_UPLOAD = 20 << 20
SERVICE_TARGET = {
    "high": "first, Mon-Fri 08:00-16:00 (on-site help)",
    "medium": "within 1 working day",
    "low": "2-5 working days",
}


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


class Sealer:
    """Seals what a box must believe (its case states, its MQTT receipts) with the box's own key, derived
    from the fleet key (agent/wire.py): without a fleet key a box believes nothing the intake says."""

    def __init__(self, fleet_key: str):
        self.fleet_key = fleet_key

    def __call__(self, purpose: str, box: str, body: dict) -> dict:
        from agent import wire

        return wire.seal(wire.box_key(self.fleet_key, box), purpose, box, body) if self.fleet_key else body


def fleet_key() -> str:
    """From FLEET_KEY_ENV (never an argument: the process list is readable by every user of the machine)."""
    return os.environ.get(FLEET_KEY_ENV, "")


FLEET_KEY_ENV = "DIAG_INTAKE_FLEET_KEY"


def make_handler(store: CaseStore, releases: dict[str, str], refusals: Refusals, seal: Sealer):
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
            parts = self.path.strip("/").split("/")
            if self.path == "/api/v1/cases":
                self._answer(200, {"cases": store.cases})
            elif self.path == "/api/v1/stats":
                self._answer(
                    200,
                    {
                        "cases": len(store.cases),
                        "rejected": store.rejected,
                        "deliveries": sum(c["deliveries"] for c in store.cases),
                    },
                )
            elif parts[:3] == ["api", "v1", "devices"] and len(parts) == 5 and parts[4] == "cases":
                # The box reads its own cases (the real backend knows it by its client certificate).
                box = parts[3]
                self._answer(200, {"cases": [seal("case", box, store.state_for_box(c)) for c in store.of_box(box)]})
            elif self.path.startswith("/api/v1/releases/") and self.path.split("/")[-1] in releases:
                channel = self.path.split("/")[-1]
                version, _, notes = releases[channel].partition(":")  # VERSION[:what the update changes]
                self._answer(200, {"channel": channel, "version": version, **({"notes": notes} if notes else {})})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self):
            try:
                if self.path != "/api/v1/reports":
                    raise Rejected(404, "not found")
                body = self._read_body()
                if refusals.take():
                    self._answer(
                        refusals.status,
                        {"error": "refused for the test"},
                        {"Retry-After": refusals.retry_after} if refusals.retry_after else None,
                    )
                    return
                receipt, new = store.accept(body, self.headers.get("Idempotency-Key", ""), "https")
                self._answer(201 if new else 200, receipt)
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


class MqttSide:
    """Reports in on <prefix>/<box>/report/<id>, receipts back; each case's state out, retained, on
    <prefix>/<box>/case/<CASE>, so a box that was off reads it when it connects."""

    def __init__(self, store: CaseStore, host: str, port: int, prefix: str, seal: Sealer):
        import paho.mqtt.client as mqtt

        self.store, self.prefix, self.seal = store, prefix, seal
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"intake-{os.getpid()}", protocol=mqtt.MQTTv5
        )
        self.client.on_connect, self.client.on_message = self._on_connect, self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, c, userdata, flags, reason, props):
        c.subscribe(f"{self.prefix}/+/report/+", qos=1)
        for case in list(self.store.cases):  # a broker without persistence forgot them
            self.publish_case(case)
        log.info("MQTT: subscribed to %s/+/report/+", self.prefix)

    def publish_case(self, case: dict) -> None:
        if case["box"]:
            self.client.publish(
                f"{self.prefix}/{case['box']}/case/{case['case']}",
                json.dumps(self.seal("case", case["box"], self.store.state_for_box(case))),
                qos=1,
                retain=True,
            )

    def _on_message(self, c, userdata, msg):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = getattr(msg, "properties", None)
        report_id = msg.topic.rsplit("/", 1)[1]  # <prefix>/<serial>/report/<report id>
        try:
            reply, _ = self.store.accept(msg.payload, report_id, "mqtt")
        except Rejected as exc:
            reply = {"error": str(exc), "report_id": report_id}
        serial_base = msg.topic.rsplit("/", 2)[0]
        reply = self.seal("receipt", serial_base.rsplit("/", 1)[1], dict(reply, report_id=report_id))
        response_topic = getattr(props, "ResponseTopic", None) or f"{serial_base}/receipt/{report_id}"
        out = Properties(PacketTypes.PUBLISH)
        if getattr(props, "CorrelationData", None):
            out.CorrelationData = props.CorrelationData
        c.publish(response_topic, json.dumps(reply), qos=1, properties=out)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_smtp(store: CaseStore, host: str, port: int):
    """The e-mail channel: a bundle mailed as an attachment lands in the case of its report id, the same
    case it gets when the box uploads it later."""
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    class Mailroom:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            filed = []
            for part in message.iter_attachments():
                body = part.get_payload(decode=True) or b""
                if not body.startswith(b"\x1f\x8b"):  # not gzip: a signature, a logo
                    continue
                try:
                    from agent.report.bundle import read_bundle

                    manifest, _ = read_bundle(body)
                    receipt, _ = store.accept(body, str(manifest.get("report_id", "")), "email")
                    filed.append(receipt["case"])
                except Exception as exc:  # a damaged attachment is the sender's to resend
                    log.info("mail from %s: attachment refused: %s", envelope.mail_from, exc)
            if not filed:
                return "550 no readable report bundle attached"
            log.info("mail from %s filed in %s", envelope.mail_from, ", ".join(filed))
            return "250 filed in " + ", ".join(filed)

    if port == 0:  # aiosmtpd checks its listener by connecting to it: it needs the real port number
        import socket

        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    controller = Controller(Mailroom(), hostname=host, port=port)
    controller.start()
    controller.port_in_use = port
    return controller


def serve(args) -> int:
    publishers: list = []
    store = CaseStore(
        Path(args.store), on_change=lambda case: [p(case) for p in publishers], chase_days=args.chase_days
    )
    releases = dict(r.split("=", 1) for r in args.release or ["stable=2.4.1"])
    refusals = Refusals(args.refuse, args.refuse_status, args.retry_after)
    seal = Sealer(fleet_key())
    if not seal.fleet_key:
        log.warning("no fleet key in %s: boxes will not believe any case state or MQTT receipt", FLEET_KEY_ENV)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(store, releases, refusals, seal))
    server.daemon_threads = True
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:  # mutual TLS: only boxes with a certificate from this CA may upload
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    mqtt_side = MqttSide(store, args.mqtt_host, args.mqtt_port, args.topic_prefix, seal) if args.mqtt_host else None
    if mqtt_side:
        publishers.append(mqtt_side.publish_case)
    smtp = start_smtp(store, args.host, args.smtp_port) if args.smtp_port is not None else None
    port = server.server_address[1]
    url = f"https://{args.host}:{port}"
    desk = start_support_desk(store, Path(args.store) / SUPPORT_SOCKET)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    def chase_now_and_then():
        while True:
            time.sleep(args.chase_every_s)
            for line in store.chase():
                log.info("chase: %s", line)

    threading.Thread(target=chase_now_and_then, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "port": port,
                "url": f"{url}/api/v1/reports",
                "smtp_port": smtp.port_in_use if smtp else None,
            }
        ),
        flush=True,
    )
    server.serve_forever()
    desk.shutdown()
    for part in (mqtt_side, smtp):
        if part:
            part.stop()
    return 0


SUPPORT_SOCKET = "support.sock"


def start_support_desk(store: CaseStore, path: Path):
    """Support's own actions (ask, tell, solve, chase) reach the running intake over a Unix socket in its
    store: whoever may read the store may act on its cases, nobody else."""
    import socketserver

    def act(order: dict) -> dict:
        what, case, text = order.get("action"), order.get("case"), str(order.get("text") or "").strip()
        if what == "chase":
            return {"done": store.chase(order.get("now"))}
        if what == "solve":
            return store.state_for_box(store.solve(case))
        if what == "ask" and text:  # a question may ask for a photo of one view (the box's photo labels)
            return store.state_for_box(store.ask(case, text, photo=order.get("photo")))
        if what == "tell" and text:
            return store.state_for_box(store.tell(case, text))
        raise Rejected(422, "expected ask, tell (with a text), solve or chase")

    class Desk(socketserver.StreamRequestHandler):
        def handle(self):
            try:
                answer = act(json.loads(self.rfile.readline(65536)))
            except Rejected as exc:
                answer = {"error": str(exc)}
            except (ValueError, AttributeError):
                answer = {"error": "send one JSON object on a line"}
            self.wfile.write(json.dumps(answer).encode() + b"\n")

    path.unlink(missing_ok=True)
    server = socketserver.ThreadingUnixStreamServer(str(path), Desk)
    server.daemon_threads = True
    os.chmod(path, 0o600)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _support_action(args, order: dict) -> dict:
    import socket

    path = Path(args.store) / SUPPORT_SOCKET
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(str(path))
            s.sendall(json.dumps(order).encode() + b"\n")
            answer = json.loads(s.makefile("rb").readline())
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"no intake is serving {args.store} ({exc}); start: support_intake.py serve --store {args.store} ..."
        ) from None
    if "error" in answer:
        raise SystemExit(f"refused: {answer['error']}")
    return answer


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


def show(args) -> int:
    store = CaseStore(Path(args.store))
    try:
        case = store.get(args.case)
    except Rejected as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(case, indent=1))
        return 0
    print(f"{case['case']}  {case['state']}  {case['priority']} priority{'  on site' if case['on_site'] else ''}")
    print(f"box {case['box']}: {case['subject']}")
    print(f"service target: {SERVICE_TARGET[case['priority']]}")
    for a in case["articles"]:
        head = f"  {_when(a['at'])}  {a['by']:<7} {a['kind']:<9}"
        if a["by"] == "support":
            extra = "  (answered)" if a.get("answered") else "  (open)" if a["kind"] == "question" else ""
            print(f"{head} {a['id']}: {a['text']}{extra}")
        elif a["kind"] == "answer":
            print(f"{head} to {a.get('question')}: {a.get('text', '')}")
        elif a["kind"] == "photo":
            print(f"{head} {a.get('label', '')}: {a.get('file', '(no image)')} ({a.get('bytes', 0)} bytes)")
        else:
            print(f"{head} {a['report_id']} via {a['transport']}: {a['subject']}")
    return 0


def list_cases(args) -> int:
    index = Path(args.store) / "cases.json"
    cases = json.loads(index.read_text()) if index.exists() else []
    if not cases:
        print("no cases")
        return 0
    cases.sort(key=lambda c: (PRIORITIES.index(c["priority"]), c["received"]))
    print(
        f"{'case':<12} {'state':<8} {'priority':<8} {'on-site':<7} {'received (UTC)':<17} {'subject':<40} "
        "service target"
    )
    for c in cases:
        print(
            f"{c['case']:<12} {c['state']:<8} {c['priority']:<8} {'yes' if c['on_site'] else 'no':<7} "
            f"{_when(c['received']):<17} {c['subject'][:40]:<40} {SERVICE_TARGET[c['priority']]}"
        )
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
    s.add_argument("--smtp-port", type=int, help="take bundles mailed to this port (0: any free one)")
    s.add_argument(
        "--chase-days",
        type=int,
        default=3,
        help="working days a question waits before a reminder, and as many more before the case closes",
    )
    s.add_argument("--chase-every-s", type=float, default=3600.0)
    s.add_argument("--refuse", type=int, default=0, help="refuse the first N uploads (for tests)")
    s.add_argument("--refuse-status", type=int, default=503)
    s.add_argument("--retry-after", help="Retry-After header on refused uploads")
    s.add_argument(
        "--release",
        action="append",
        metavar="CHANNEL=VERSION",
        help="the newest version of a channel, served at /api/v1/releases/CHANNEL (default stable=2.4.1); "
        "CHANNEL=VERSION:NOTES adds what the update changes",
    )
    for name in ("list", "show", "ask", "tell", "solve", "chase"):
        p = sub.add_parser(name)
        p.add_argument("--store", required=True)
        if name in ("show", "ask", "tell", "solve"):
            p.add_argument("case")
        if name in ("ask", "tell"):
            p.add_argument("text")
    sub.choices["ask"].add_argument(
        "--photo", help="ask for a photo of this view: housing, lid, controller, type_plate"
    )
    sub.choices["show"].add_argument("--json", action="store_true")
    sub.choices["chase"].add_argument("--now", help="the time to chase at (ISO 8601); default: now")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="intake: %(message)s", stream=sys.stderr)
    if args.cmd in ("ask", "tell", "solve"):
        order = {
            "action": args.cmd,
            "case": args.case,
            "text": getattr(args, "text", ""),
            "photo": getattr(args, "photo", None),
        }
        state = _support_action(args, order)
        print(f"{state['case']}: {state['state']}, {state['priority']} priority")
        return 0
    if args.cmd == "chase":
        from datetime import datetime

        now = datetime.fromisoformat(args.now).timestamp() if args.now else None
        print("\n".join(_support_action(args, {"action": "chase", "now": now})["done"]) or "nothing to chase")
        return 0
    return {"serve": serve, "list": list_cases, "show": show}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
