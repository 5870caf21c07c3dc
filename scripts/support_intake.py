#!/usr/bin/env python3
"""The reference support intake: takes reports over HTTPS, MQTT and e-mail into cases (tickets in a
helpdesk when one is given), and talks back to the boxes.

    support_intake.py serve --store DIR --cert CERT --key KEY [--port 0] [--db URL] [--helpdesk URL]
                            [--mqtt-host H --mqtt-port P [--mqtt-protocol 3.1.1] [--mqtt-share GROUP]]
                            [--smtp-port P] [--chase-days N]
    support_intake.py list|show|ask|request-photo|request-data|tell|solve|chase --store DIR ...  (intake_cli.py)

Several `serve` workers may share one store folder and one PostgreSQL database (--db): one report is one
case however their retries race. The contract is documented in README.md ("The backend contract"); the case
rules in intake_cases.py, the helpdesk seam in intake_desk.py.
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
from intake_cases import CaseStore, Rejected  # noqa: E402

log = logging.getLogger("intake")
MAX_UPLOAD = 20 << 20


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


def make_handler(store: CaseStore, releases: dict[str, str], refusals: Refusals, seal: Sealer, hint):
    """HINT(case number): a helpdesk webhook said the case's ticket changed."""

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
                if self.path == "/api/v1/helpdesk/events":
                    self._helpdesk_event()
                    return
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

        def _helpdesk_event(self) -> None:
            """A helpdesk webhook (a new ticket, a follow-up): only a hint that the ticket changed. The intake
            reads the ticket itself from the helpdesk's API, so a forged hint costs one read, nothing more."""
            try:
                length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
                event = json.loads(self.rfile.read(length))
                ticket = (event.get("ticket") or {}).get("id") if isinstance(event, dict) else None
            except (ValueError, AttributeError):
                ticket = None
            number = store.desk.number(ticket) if isinstance(ticket, int) else None
            if number:
                threading.Thread(target=hint, args=(number,), daemon=True).start()
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

    return Handler


class MqttSide:
    """Reports in on <prefix>/<box>/report/<id>, receipts back; each case's state out, retained, on
    <prefix>/<box>/case/<CASE>, so a box that was off reads it when it connects. With SHARE, workers take
    reports from one shared subscription ($share/SHARE/...): each report reaches one of them. With MQTT
    3.1.1 the receipt goes to <prefix>/<box>/receipt/<id> (3.1.1 has no response topic)."""

    def __init__(self, store: CaseStore, host: str, port: int, prefix: str, seal: Sealer, protocol: str, share: str):
        import paho.mqtt.client as mqtt

        self.store, self.prefix, self.seal, self.share = store, prefix, seal, share
        self.v5 = protocol == "5"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"intake-{os.getpid()}",
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
        )
        self.client.on_connect, self.client.on_message = self._on_connect, self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, c, userdata, flags, reason, props):
        topic = f"{self.prefix}/+/report/+"
        c.subscribe(f"$share/{self.share}/{topic}" if self.share else topic, qos=1)
        for case in self.store.cases:  # a broker without persistence forgot them
            self.publish_case(case)
        log.info("MQTT: subscribed to %s%s", topic, f" (shared as {self.share})" if self.share else "")

    def publish_case(self, case: dict) -> None:
        if case["box"]:
            self.client.publish(
                f"{self.prefix}/{case['box']}/case/{case['case']}",
                json.dumps(self.seal("case", case["box"], self.store.state_for_box(case))),
                qos=1,
                retain=True,
            )

    def _on_message(self, c, userdata, msg):
        props = getattr(msg, "properties", None) if self.v5 else None
        report_id = msg.topic.rsplit("/", 1)[1]  # <prefix>/<serial>/report/<report id>
        try:
            reply, _ = self.store.accept(msg.payload, report_id, "mqtt")
        except Rejected as exc:
            reply = {"error": str(exc), "report_id": report_id}
        serial_base = msg.topic.rsplit("/", 2)[0]
        reply = self.seal("receipt", serial_base.rsplit("/", 1)[1], dict(reply, report_id=report_id))
        response_topic = getattr(props, "ResponseTopic", None) or f"{serial_base}/receipt/{report_id}"
        if not self.v5:
            c.publish(response_topic, json.dumps(reply), qos=1)
            return
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

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
    from intake_cli import STORE_CONFIG, open_store

    folder = Path(args.store)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "db": args.db or f"sqlite:{folder / 'cases.db'}",
        "helpdesk": {"url": args.helpdesk, "queue": args.helpdesk_queue} if args.helpdesk else None,
        "zone": args.zone,
        "chase_days": args.chase_days,
    }
    tmp = folder / f"{STORE_CONFIG}.{os.getpid()}.tmp"  # what the support command line opens
    tmp.write_text(json.dumps(config, indent=1))
    os.chmod(tmp, 0o600)  # a database URL may hold its password
    tmp.replace(folder / STORE_CONFIG)
    publishers: list = []
    store = open_store(folder, config, on_change=lambda case: [p(case) for p in publishers])
    releases = dict(r.split("=", 1) for r in args.release or ["stable=2.4.1"])
    refusals = Refusals(args.refuse, args.refuse_status, args.retry_after)
    seal = Sealer(fleet_key())
    if not seal.fleet_key:
        log.warning("no fleet key in %s: boxes will not believe any case state or MQTT receipt", FLEET_KEY_ENV)
    rounds = Rounds(store, publishers, args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(store, releases, refusals, seal, rounds.hint))
    server.daemon_threads = True
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:  # mutual TLS: only boxes with a certificate from this CA may upload
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    mqtt_side = (
        MqttSide(store, args.mqtt_host, args.mqtt_port, args.topic_prefix, seal, args.mqtt_protocol, args.mqtt_share)
        if args.mqtt_host
        else None
    )
    if mqtt_side:
        publishers.append(mqtt_side.publish_case)
    smtp = start_smtp(store, args.host, args.smtp_port) if args.smtp_port is not None else None
    port = server.server_address[1]
    url = f"https://{args.host}:{port}"

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    threading.Thread(target=rounds.run, daemon=True).start()
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
    for part in (mqtt_side, smtp):
        if part:
            part.stop()
    return 0


class Rounds:
    """A worker's rounds: every SYNC_S it publishes the cases that changed since it last looked (whoever
    changed them: another worker, the support command line); every POLL_S it reads the tickets of open
    cases from the helpdesk (a webhook's hint reads one at once); every CHASE_EVERY_S it chases."""

    def __init__(self, store: CaseStore, publishers: list, args):
        self.store, self.publishers, self.args = store, publishers, args
        self.published: dict[str, int] = {}
        self._hints: set[str] = set()
        self._wake = threading.Event()

    def hint(self, number: str) -> None:
        self._hints.add(number)
        self._wake.set()

    def run(self) -> None:
        last_poll = last_chase = time.monotonic()
        with self.store.db.tx() as t:  # what is there now the MQTT side publishes when it connects
            self.published = t.versions()
        while True:
            self._wake.wait(self.args.sync_s)
            self._wake.clear()
            now = time.monotonic()
            try:
                polling = now - last_poll >= self.args.poll_s
                numbers = self._open_cases() if polling else set()
                last_poll = now if polling else last_poll
                for number in numbers | {self._hints.pop() for _ in range(len(self._hints))}:
                    try:
                        self.store.sync_case(number)
                    except Rejected:  # a ticket staff opened themselves: not a box's case
                        log.debug("a helpdesk event for %s, which is no case of a box", number)
                if now - last_chase >= self.args.chase_every_s:
                    last_chase = now
                    for line in self.store.chase():
                        log.info("chase: %s", line)
                self._publish_changed()
            except Exception as exc:  # the database or the helpdesk away for a moment: the next round tries
                log.warning("a round of the intake failed: %s", exc)

    def _open_cases(self) -> set[str]:
        if not self.args.helpdesk:
            return set()
        # Staff may reopen a solved ticket: those solved in the last 30 days are read too.
        recent = time.time() - 30 * 86400
        return {c["case"] for c in self.store.cases if c["state"] != "solved" or c["articles"][-1]["at"] > recent}

    def _publish_changed(self) -> None:
        if not self.publishers:
            return
        with self.store.db.tx() as t:
            versions = t.versions()
        for number, version in versions.items():
            if self.published.get(number) != version:
                case = self.store.get(number)
                for publish in self.publishers:
                    publish(case)
                self.published[number] = version


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--store", required=True, help="the folder of bundles and photos, shared by the workers")
    s.add_argument("--db", help="postgresql://... for workers that scale out (default: SQLite in the store)")
    s.add_argument("--helpdesk", help="the django-helpdesk site's URL; its API token from DIAG_HELPDESK_TOKEN")
    s.add_argument("--helpdesk-queue", default="wallbox", help="the slug of the helpdesk queue cases go into")
    s.add_argument("--zone", default="Europe/Berlin", help="support's time zone, for the service times")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--client-ca", help="require client certificates signed by this CA (mutual TLS)")
    s.add_argument("--mqtt-host")
    s.add_argument("--mqtt-port", type=int, default=1883)
    s.add_argument("--mqtt-protocol", choices=("5", "3.1.1"), default="5")
    s.add_argument("--mqtt-share", help="take reports from the shared subscription $share/GROUP/...")
    s.add_argument("--topic-prefix", default="diag-agent")
    s.add_argument("--smtp-port", type=int, help="take bundles mailed to this port (0: any free one)")
    s.add_argument(
        "--chase-days",
        type=int,
        default=3,
        help="working days a question waits before a reminder, and as many more before the case closes",
    )
    s.add_argument("--chase-every-s", type=float, default=3600.0)
    s.add_argument("--sync-s", type=float, default=1.0, help="how often changed cases are published")
    s.add_argument("--poll-s", type=float, default=60.0, help="how often open tickets are read (webhooks: at once)")
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
    from intake_cli import add_commands, run_command

    add_commands(sub)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="intake: %(message)s", stream=sys.stderr)
    if args.cmd == "serve":
        return serve(args)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
