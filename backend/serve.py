"""The reference support intake: takes reports over HTTPS, MQTT and e-mail into cases (tickets in a
helpdesk when one is given), and talks back to the boxes.

    python -m backend serve --store DIR --cert CERT --key KEY [--port 0] [--db URL] [--helpdesk URL]
                            [--mqtt-host H --mqtt-port P [--mqtt-protocol 3.1.1] [--mqtt-share GROUP]]
                            [--smtp-port P] [--chase-days N]
    python -m backend list|show|ask|request-photo|request-data|tell|solve|chase --store DIR ...  (backend/cli.py)

Several `serve` workers may share one store folder and one PostgreSQL database (--db): one report is one
case however their retries race. The contract is documented in README.md ("The backend contract"); the case
rules in backend/rules/, the helpdesk seam in backend/helpdesk/.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from backend.inputs.https import Refusals, make_handler
from backend.inputs.mail import start_smtp
from backend.inputs.mqtt import MqttSide
from backend.rounds import Rounds
from backend.seal import FLEET_KEY_ENV, Sealer, fleet_key
from backend.stores import STORE_CONFIG, open_store

log = logging.getLogger("intake")


def serve(args) -> int:
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
                "smtp_port": smtp.port if smtp else None,
            }
        ),
        flush=True,
    )
    server.serve_forever()
    for part in (mqtt_side, smtp):
        if part:
            part.stop()
    return 0
