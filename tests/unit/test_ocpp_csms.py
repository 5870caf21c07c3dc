"""A CSMS and a charge point built on the `ocpp` package, over a real websocket: the charge point carries our
glue (firmware_hooks/ocpp/diag_agent_ocpp.py), the CSMS asks for the log (2.0.1 GetLog, 1.6 GetDiagnostics), and
sees the answer and every status notification while the running agent uploads its report to an FTPS server."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_ocpp import SECRET, ftp_target  # noqa: F401  (the FTP(S) server fixture)


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
