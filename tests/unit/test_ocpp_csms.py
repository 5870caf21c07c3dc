"""A CSMS and a charge point built on the `ocpp` package, over a real websocket: the charge point carries our
glue (firmware_hooks/ocpp/diag_agent_ocpp.py), the CSMS asks for the log (2.0.1 GetLog, 1.6 GetDiagnostics), and
sees the answer and every status notification while the running agent uploads its report to an FTPS server."""

from __future__ import annotations

import asyncio
import json

import pytest

from rigs import peers
from rigs.ocpp_peer import glue  # noqa: E402
from tests.integration.test_ocpp import SECRET, ftp_target  # noqa: F401  (the FTP(S) server fixture)


@pytest.fixture
def agent_argv(make_config, sim_bus, certs, agent_process):
    path = make_config(buses=[sim_bus], devices=peers.sim_devices(), backend={"ca_file": certs["ca"]})
    agent_process(path)
    return peers.agent_argv() + ["ocpp-log", "--config", str(path)]


async def _ask_once(version, agent_argv, message):
    """One request whose answer ends it (no notifications follow a Rejected)."""
    import websockets
    from ocpp.v201 import ChargePoint

    class Box(glue().DiagnosticsV201, ChargePoint):
        diag_agent = agent_argv

    got: asyncio.Queue = asyncio.Queue()

    async def serve(ws):
        csms = ChargePoint("csms", ws)
        asyncio.ensure_future(csms.start())
        await got.put(await csms.call(message))

    async with websockets.serve(serve, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/WB-0001", subprotocols=["ocpp2.0.1"]) as ws:
            runner = asyncio.ensure_future(Box("WB-0001", ws).start())
            answer = await got.get()
            runner.cancel()
            return answer


# --- each version its own words; a request id per request; a newer request ends the older one -------------
def schema_enum(version: str, message: str) -> set[str]:
    """The status words a message may carry, from the schema the `ocpp` package validates against."""
    import importlib.resources
    import re

    folder = "v16" if version == "1.6" else "v201"
    name = message if version == "1.6" else f"{message}Request"
    schema = json.loads((importlib.resources.files("ocpp") / folder / "schemas" / f"{name}.json").read_text())
    found = json.dumps(schema)
    return set(json.loads(re.search(r'"enum": (\[[^\]]*\])', found).group(1)))


def test_every_status_word_is_one_its_versions_schema_allows():
    from agent.channels.ocpp import REPLACED, WIRE

    assert set(WIRE["2.0.1"]) == schema_enum("2.0.1", "LogStatusNotification")
    assert set(WIRE["1.6"]) == schema_enum("1.6", "LogStatusNotification")
    assert set(WIRE["diagnostics"]) == schema_enum("1.6", "DiagnosticsStatusNotification")
    assert all(REPLACED[v] in WIRE[v] for v in WIRE)


async def _after_uploading(csms, count: int = 1) -> None:
    while sum(n["status"] == "Uploading" for n in csms.notified) < count:
        await asyncio.sleep(0.05)


def test_an_ftp_server_error_is_a_failure_worth_another_attempt(tmp_path):
    """vsftpd's "500 OOPS" (its own trouble, say a full disk or a chroot it cannot enter) is retried, and ends
    in UploadFailure, never NotSupportedOperation (which a CSMS does not retry)."""
    import socketserver
    import threading

    from agent.transports.upload import UploadError, parse_location, upload

    class Oops(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 ready\r\n")
            while self.rfile.readline():
                self.wfile.write(b"500 OOPS: vsftpd: refusing to run with writable root inside chroot()\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Oops)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        location = parse_location(f"ftp://csms:{SECRET}@127.0.0.1:{server.server_address[1]}/logs/")
        with pytest.raises(UploadError) as refused:
            upload(location, "report.tar.gz", b"x" * 100, 10.0)
        assert refused.value.status == "UploadFailure" and "500 OOPS" in str(refused.value)
    finally:
        server.shutdown()
