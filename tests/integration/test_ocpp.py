"""The OCPP delegate (issue 15, first part): a CSMS's GetLog / GetDiagnostics handed over by the firmware, answered
at once, the report uploaded to the request's location (FTPS with a broken link resumed, HTTPS PUT and POST),
retries on an injected clock, a second request cancelling the first, bad locations refused."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.channels.ocpp import OcppDelegate
from rigs import peers
from tests.unit.test_ocpp import SECRET, export  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.fixture
def ftp_target(tmp_path, certs):
    def start(tls: bool = True, drop_after: int = 0):
        root = tmp_path / "ftp-root"
        (root / "logs").mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "rigs.ftp_target",
            "--root",
            str(root),
            "--password",
            SECRET,
            "--drop-after",
            str(drop_after),
        ]
        if tls:
            argv += ["--cert", certs["cert"], "--key", certs["key"]]
        peer = peers.spawn("ftp", argv, tmp_path / "ftp-run", ready_line=True)
        started.append(peer)
        return peer, root / "logs"

    started: list = []
    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def https_target(certs):
    """An HTTPS server that keeps what is PUT or POSTed to it (http.server: not the client's library)."""
    got: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def _take(self):
            got.append((self.command, self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST = _take

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs["cert"], certs["key"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], got
    server.shutdown()


@pytest.fixture
def box(make_config, sim_bus, certs, agent_process, cli):
    path = make_config(buses=[sim_bus], devices=peers.sim_devices(), backend={"ca_file": certs["ca"]})
    agent = agent_process(path)

    def ocpp_log(*args):
        out = cli("ocpp-log", *args, "--config", path, timeout=120)
        return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], agent

    return ocpp_log


def test_getlog_to_ftps_resumes_a_broken_upload_and_the_file_is_our_report(box, ftp_target, cli, tmp_path):
    ftp, folder = ftp_target(tls=True, drop_after=4096)
    code, lines, agent = box(
        "--request-id",
        "42",
        "--location",
        f"ftps://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/",
        "--retries",
        "2",
        "--retry-interval",
        "0",
        "--oldest",
        "2026-01-01T00:00:00Z",
    )
    answer, *events = lines
    assert answer["status"] == "Accepted" and answer["filename"].startswith("TEST-0001-diagnostics-")
    assert [e["status"] for e in events] == ["Uploading", "Uploading", "Uploaded"] and code == 0, lines
    assert {e["request_id"] for e in events} == {42}
    uploaded = folder / answer["filename"]
    shown = cli("inspect", uploaded)
    assert shown.returncode == 0 and "every checksum OK" in shown.stdout and "trigger ocpp" in shown.stdout
    from agent.report.bundle import read_bundle

    manifest, _ = read_bundle(uploaded.read_bytes())
    assert manifest["window"] == {"oldest": "2026-01-01T00:00:00+00:00", "latest": None}
    # The link broke after 4096 bytes; the second attempt sent only the rest (REST), not the whole file again.
    stored = re.findall(r"STOR \S+ completed=(\d) bytes=(\d+)", ftp.log.read_text())
    assert stored == [("0", "4096"), ("1", str(uploaded.stat().st_size - 4096))], stored
    assert SECRET not in agent.log.read_text()


def test_https_put_and_post_and_a_1_6_getdiagnostics(box, https_target):
    port, got = https_target
    code, lines, _ = box("--request-id", "7", "--location", f"https://127.0.0.1:{port}/upload/")
    assert code == 0 and lines[-1]["status"] == "Uploaded"
    code, lines, _ = box("--message", "GetDiagnostics", "--location", f"https://127.0.0.1:{port}/diag?method=post")
    assert code == 0 and [e["status"] for e in lines[1:]] == ["Uploading", "Uploaded"]
    (put_method, put_path, put_body), (post_method, post_path, _) = got
    assert put_method == "PUT" and put_path.startswith("/upload/TEST-0001-diagnostics-") and put_body[:2] == b"\x1f\x8b"
    assert post_method == "POST" and post_path == "/diag?method=post"


@pytest.mark.parametrize(
    "location", ["gopher://127.0.0.1/x", "not a url", "ftp://127.0.0.1/" + "x" * 600, "https:///nohost"]
)
def test_a_location_that_cannot_be_one_is_rejected_at_once(box, location):
    code, lines, _ = box("--request-id", "1", "--location", location)
    assert code == 1 and lines == [{"status": "Rejected", "reason": lines[0]["reason"]}]


def test_a_second_request_cancels_the_first(ftp_target):
    ftp, folder = ftp_target(tls=False)
    delegate = OcppDelegate(export, "BOX-1", deadline_s=5, sleep=lambda stop, s: stop.wait(60))
    first = delegate.request(
        {"request_id": 1, "location": f"ftp://127.0.0.1:{peers.free_port()}/", "retries": 5, "retry_interval": 60}
    )
    peers.wait_for(lambda: any(e["status"] == "Uploading" for e in delegate.events()[0]), 10, "the first attempt")
    second = delegate.request({"request_id": 2, "location": f"ftp://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/"})
    assert first["status"] == "Accepted" and second["status"] == "AcceptedCanceled"
    events = peers.wait_for(lambda: (e := delegate.events()[0]) and e[-1]["status"] == "Uploaded" and e, 20, "upload")
    assert [(e["request_id"], e["status"]) for e in events] == [
        (1, "Uploading"),
        (1, "AcceptedCanceled"),
        (2, "Uploading"),
        (2, "Uploaded"),
    ]
    assert (folder / second["filename"]).read_bytes() == export(None)[1]


def test_a_securitylog_request_uploads_the_security_events(make_config, agent_process, cli, https_target, certs):
    from agent.report.bundle import read_bundle

    port, got = https_target
    token = "page-token-CANARY-0123456789"
    path = make_config(backend={"ca_file": certs["ca"]}, extra={"web": {"port": peers.free_port(), "token": token}})
    agent_process(path)
    web = json.loads(path.read_text())["web"]["port"]
    peers.wait_for(lambda: peers.port_open(web), 10, "the local page")
    import requests

    assert requests.get(f"http://127.0.0.1:{web}/api/status", timeout=5).status_code == 401
    assert cli("event", "updated", "--version", "2.5.0", "--config", path).returncode == 0
    out = cli(
        "ocpp-log",
        "--request-id",
        "9",
        "--log-type",
        "SecurityLog",
        "--location",
        f"https://127.0.0.1:{port}/sec/",
        "--config",
        path,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["filename"].startswith("TEST-0001-security-") and lines[-1]["status"] == "Uploaded", lines
    manifest, members = read_bundle(got[-1][2])
    events = json.loads(members["security-log.json"])
    assert manifest["kind"] == "security_log" and {"config_changed", "page_token_refused", "firmware_updated"} <= {
        e["kind"] for e in events
    }
    assert all("CANARY" not in data.decode() for data in members.values())  # the token is never in it


def test_everest_runs_our_uploader_as_its_diagnostics_uploader(
    make_config, sim_bus, agent_process, ftp_target, cli, tmp_path
):
    """EVerest's System module: diagnostics_uploader.sh CONSTANTS LOCATION FILE_NAME FILE_PATH, one status word a
    line on stdout (modules/System/main/systemImpl.cpp); FILE_NAME is what it already told the CSMS."""
    import os

    path = make_config(buses=[sim_bus], devices=peers.sim_devices())
    agent_process(path)
    ftp, folder = ftp_target(tls=False)
    placeholder = tmp_path / "diagnostics-2026-11-26T06:20:00.000ZAbC123"
    placeholder.write_text('{"diagnostics":{"key":"value"}}')
    script = peers.ROOT / "firmware_hooks" / "ocpp" / "everest_diagnostics_uploader.sh"
    env = dict(os.environ, DIAG_AGENT=" ".join(peers.agent_argv()), DIAG_AGENT_CONFIG=str(path))

    def everest(location):
        return subprocess.run(
            [
                "sh",
                str(script),
                "/usr/libexec/everest/modules/System/constants.env",
                location,
                placeholder.name,
                str(placeholder),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    run = everest(f"ftp://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/")
    assert run.stdout.split() == ["Uploading", "Uploaded"], run.stdout + run.stderr
    assert cli("inspect", folder / placeholder.name).returncode == 0  # our report, under EVerest's name
    assert everest("gopher://nowhere/").stdout.split() == ["BadMessage"]


def test_the_firmware_can_subscribe_to_the_statuses_over_mqtt(
    make_config, sim_bus, broker, agent_process, cli, ftp_target
):
    import queue

    path = make_config(
        buses=[sim_bus], devices=peers.sim_devices(), mqtt={"enabled": True, "port": broker.info["port"]}
    )
    agent_process(path)
    peers.wait_for(lambda: json.loads(cli("status", "--json", "--config", path).stdout)["mqtt_connected"], 15, "MQTT")
    client, got = peers.subscriber(broker, "diag-agent/TEST-0001/notice")
    try:
        ftp, _ = ftp_target(tls=False)
        out = cli(
            "ocpp-log",
            "--request-id",
            "12",
            "--location",
            f"ftp://csms:{SECRET}@127.0.0.1:{ftp.info['port']}/logs/",
            "--config",
            path,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        seen = []
        while not seen or seen[-1] != "Uploaded":
            notice = got.get(timeout=15)
            if notice.get("event") == "ocpp_log" and notice["request_id"] == 12:
                seen.append(notice["status"])
        assert seen == ["Uploading", "Uploaded"]
    except queue.Empty:
        raise AssertionError("no ocpp_log notice on MQTT") from None
    finally:
        client.loop_stop()
        client.disconnect()
