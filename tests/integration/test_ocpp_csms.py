"""A CSMS and a charge point built on the `ocpp` package, over a real websocket: the charge point carries our
glue (firmware_hooks/ocpp/diag_agent_ocpp.py), the CSMS asks for the log (2.0.1 GetLog, 1.6 GetDiagnostics), and
sees the answer and every status notification while the running agent uploads its report to an FTPS server."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from rigs import peers
from rigs.ocpp_peer import Seen, exchange, glue
from tests.integration.test_ocpp import SECRET, ftp_target  # noqa: F401  (the FTP(S) server fixture)


@pytest.fixture
def agent_argv(make_config, sim_bus, certs, agent_process):
    path = make_config(buses=[sim_bus], devices=peers.sim_devices(), backend={"ca_file": certs["ca"]})
    agent_process(path)
    return peers.agent_argv() + ["ocpp-log", "--config", str(path)]


def test_a_csms_gets_the_log_over_ocpp_2_0_1(agent_argv, ftp_target, tmp_path, cli):  # noqa: F811
    from ocpp.v201 import call

    ftp, folder = ftp_target(tls=True)
    seen = Seen()
    logging.getLogger("ocpp").addHandler(seen)
    logging.getLogger("ocpp").setLevel(logging.INFO)
    location = f"ftps://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/"
    try:
        answer, notified = asyncio.run(
            exchange(
                "2.0.1",
                agent_argv,
                lambda csms: csms.call(
                    call.GetLog(
                        log={"remote_location": location, "oldest_timestamp": "2026-01-01T00:00:00Z"},
                        log_type="DiagnosticsLog",
                        request_id=77,
                        retries=1,
                        retry_interval=5,
                    )
                ),
            )
        )
    finally:
        logging.getLogger("ocpp").removeHandler(seen)
    assert answer.status == "Accepted" and answer.filename.endswith("-77.tar.gz")
    assert notified == [{"status": "Uploading", "request_id": 77}, {"status": "Uploaded", "request_id": 77}]
    assert cli("inspect", folder / answer.filename).returncode == 0
    (tmp_path / "exchange-2.0.1.txt").write_text("\n".join(seen.lines))
    assert any('"GetLog"' in line for line in seen.lines)


def test_a_csms_gets_diagnostics_over_ocpp_1_6_and_a_bad_location_is_refused(
    agent_argv,
    ftp_target,  # noqa: F811
    tmp_path,
    cli,
):
    from ocpp.v16 import call

    ftp, folder = ftp_target(tls=False)
    seen = Seen()
    logging.getLogger("ocpp").addHandler(seen)
    logging.getLogger("ocpp").setLevel(logging.INFO)
    try:
        answer, notified = asyncio.run(
            exchange(
                "1.6",
                agent_argv,
                lambda csms: csms.call(
                    call.GetDiagnostics(location=f"ftp://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/", retries=0)
                ),
            )
        )
    finally:
        logging.getLogger("ocpp").removeHandler(seen)
    assert answer.file_name and [n["status"] for n in notified] == ["Uploading", "Uploaded"]
    assert cli("inspect", folder / answer.file_name).returncode == 0
    (tmp_path / "exchange-1.6.txt").write_text("\n".join(seen.lines))

    async def refused():
        from ocpp.v201 import call as call201

        return await asyncio.wait_for(
            _ask_once(
                "2.0.1",
                agent_argv,
                call201.GetLog(log={"remote_location": "gopher://nowhere/"}, log_type="DiagnosticsLog", request_id=5),
            ),
            30,
        )

    assert asyncio.run(refused()).status == "Rejected"


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


@pytest.fixture
def silent_ftp():
    """An FTP address that takes the connection and never says a word: an upload there hangs (until its own
    deadline), so a second request meets the first one running."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"ftp://csms:{SECRET}@127.0.0.1:{listener.getsockname()[1]}/logs/"
    listener.close()


async def _after_uploading(csms, count: int = 1) -> None:
    while sum(n["status"] == "Uploading" for n in csms.notified) < count:
        await asyncio.sleep(0.05)


def test_two_getdiagnostics_over_1_6_are_two_requests_and_the_second_is_uploaded(
    agent_argv,
    ftp_target,  # noqa: F811
    silent_ftp,
    tmp_path,
):
    from ocpp.v16 import call

    ftp, folder = ftp_target(tls=False)

    async def ask(csms):
        first = await csms.call(call.GetDiagnostics(location=silent_ftp))
        await _after_uploading(csms)
        second = await csms.call(
            call.GetDiagnostics(location=f"ftp://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/")
        )
        return first, second

    (first, second), notified = asyncio.run(exchange("1.6", agent_argv, ask, finals=2))
    statuses = [n["status"] for n in notified]
    # The first ends with 1.6's failure word when the second replaces it; the second is uploaded.
    assert statuses == ["Uploading", "UploadFailed", "Uploading", "Uploaded"], statuses
    assert first.file_name != second.file_name and (folder / second.file_name).exists()
    (tmp_path / "sequence-1.6-getdiagnostics.txt").write_text("\n".join(statuses) + "\n")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_getlog_replaced_by_a_newer_one_ends_in_its_versions_word(
    version,
    agent_argv,
    ftp_target,  # noqa: F811
    silent_ftp,
    tmp_path,
):
    if version == "1.6":
        from ocpp.v16 import call
    else:
        from ocpp.v201 import call
    ftp, folder = ftp_target(tls=False)
    good = f"ftp://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/"

    async def ask(csms):
        first = await csms.call(
            call.GetLog(log={"remote_location": silent_ftp}, log_type="DiagnosticsLog", request_id=1)
        )
        await _after_uploading(csms)
        second = await csms.call(call.GetLog(log={"remote_location": good}, log_type="DiagnosticsLog", request_id=2))
        return first, second

    (first, second), notified = asyncio.run(
        exchange(version, agent_argv, ask, finals=2, notification="LogStatusNotification")
    )
    ended = "AcceptedCanceled" if version == "2.0.1" else "UploadFailure"  # 1.6 has no AcceptedCanceled
    assert first.status == "Accepted" and second.status == "AcceptedCanceled"  # the response says it replaced one
    assert notified == [
        {"status": "Uploading", "request_id": 1},
        {"status": ended, "request_id": 1},
        {"status": "Uploading", "request_id": 2},
        {"status": "Uploaded", "request_id": 2},
    ], notified
    assert (folder / second.filename).exists()
    (tmp_path / f"sequence-{version}-getlog.txt").write_text("\n".join(json.dumps(n) for n in notified) + "\n")
