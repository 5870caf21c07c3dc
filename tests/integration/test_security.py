"""The agent tried as an attacker would: a page on another origin, floods of idle connections, hooks that
misbehave, hostile cloud payloads, kill -9 in the middle of a request, a full disk, and secrets in every
encoding. Each attack is a test that stays; each counts what it tried."""

from __future__ import annotations

import base64
import json
import os
import resource
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from agent.channels import control
from agent.health.hooks import run_hooks
from rigs import peers
from tests.unit.test_security import CANARY, KEY, NoDesk, Replies, encoded, leaks  # noqa: F401  (fixtures and helpers shared with that tier)


# --- the page ------------------------------------------------------------------------------------
@pytest.fixture
def page_agent(tmp_path, make_config, agent_process):
    port = peers.free_port()
    path = make_config(extra={"web": {"port": port}})
    agent = agent_process(path)
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    return {"agent": agent, "port": port, "config": path, "url": f"http://127.0.0.1:{port}"}


def attacker_site(html: str) -> ThreadingHTTPServer:
    """A page on another origin (another port), as the attacker's site would be."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def smuggled(port: int, path: str, body: dict) -> str:
    """A request hidden in the body of a refused one, with the headers a cross-site page may not send."""
    inner = json.dumps(body)
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Requested-With: diag-agent\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(inner)}\r\n\r\n{inner}"
    )


def test_a_page_on_another_origin_cannot_switch_on_site_on_or_file_reports(page_agent, tmp_path, cli):
    from playwright.sync_api import sync_playwright

    port = page_agent["port"]
    report = dict(peers.report_fields("Smuggled report from evil"), on_site=True)
    attacks = [smuggled(port, "/api/onsite", {"on": True}), smuggled(port, "/api/report", report)]
    # Every request's answer is awaited in the page (one promise per fetch), so once the
    # title says "answered" the agent has handled them all: no waiting by the clock.
    html = (
        "<html><body><script>\nconst done = [];\n"
        + "".join(
            f"for (let i = 0; i < 5; i++) done.push(fetch('http://127.0.0.1:{port}/api/onsite', {{method: 'POST', "
            f"mode: 'no-cors', keepalive: true, headers: {{'Content-Type': 'text/plain'}}, body: {json.dumps(a)}}}));\n"
            for a in attacks
        )
        + f"""
    // What a cross-site <form> sends (a "simple" request: text/plain or urlencoded), as fetches so each
    // answer can be awaited.
    for (const path of ['/api/onsite', '/api/report'])
      for (const type of ['text/plain', 'application/x-www-form-urlencoded'])
        done.push(fetch('http://127.0.0.1:{port}' + path, {{method: 'POST', mode: 'no-cors', credentials: 'include',
          headers: {{'Content-Type': type}}, body: '{{"on": true, "x": "="}}'}}));
    Promise.allSettled(done).then(() => {{ document.title = 'answered'; }});
    </script></body></html>"""
    )
    site = attacker_site(html)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{site.server_address[1]}/")
            page.wait_for_function("document.title === 'answered'", timeout=20000)
            browser.close()
    finally:
        site.shutdown()
    status = requests.get(page_agent["url"] + "/api/status", timeout=10).json()
    assert status["onsite"]["on"] is False
    assert requests.get(page_agent["url"] + "/api/reports", timeout=10).json()["reports"] == []


def _idle_connections(port: int, n: int) -> list[socket.socket]:
    """Up to N connections to PORT that never send a byte (as many as the box accepts)."""
    idle = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        idle.append(s)
    return idle


def _half_sent_requests(path: str, n: int) -> list[socket.socket]:
    """N connections to the control socket at PATH, each with half a request sent (or refused at once)."""
    half_sent = []
    for _ in range(n):
        c = socket.socket(socket.AF_UNIX)
        half_sent.append(c)
        try:
            c.connect(path)
            c.sendall(b'{"command": "status"')
        except OSError:  # refused at once past its bound: what it should do
            pass
    return half_sent


def _held(c: socket.socket) -> int:
    """1 when a handler still waits for the rest of C's request (until its read timeout), else 0 (a "busy" line,
    EOF: refused at once)."""
    c.settimeout(0.2)
    try:
        c.recv(200)
    except TimeoutError:
        return 1
    except OSError:
        pass
    return 0


@pytest.mark.alone
def test_1100_idle_connections_with_1024_files_do_not_end_the_daemon(page_agent):
    agent = page_agent["agent"]
    resource.prlimit(agent.proc.pid, resource.RLIMIT_NOFILE, (1024, 1024))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))
    idle = _idle_connections(page_agent["port"], 1100)
    try:
        half_sent = _half_sent_requests(agent.info["control"], 100)  # and the control socket: requests never finished
        held = sum(_held(c) for c in half_sent)
        assert held <= 16, held
        assert agent.alive()
        try:  # while 16 handlers wait for half-sent requests, one more is refused at once
            answer = control.call(agent.info["control"], "status", timeout=15)
            assert answer["ok"] or "too many control connections" in answer.get("error", "")
        except control.NoAnswer:
            pass  # refused before it could read the "busy" line
        for c in half_sent:
            c.close()
        assert peers.wait_for(lambda: _status(agent), 15, "the control socket free again")["ok"]
    finally:
        for s in idle:
            s.close()
    assert agent.alive()
    # Once the flood is gone the page answers again, and the daemon never stopped.
    r = peers.wait_for(lambda: _get(page_agent["url"] + "/api/status"), 30, "the page to answer again")
    assert r["ok"] and control.call(agent.info["control"], "status")["ok"]
    assert "Too many open files" not in agent.log.read_text() or agent.alive()


def _status(agent):
    """The daemon's status, or None while the control socket is still busy or refusing."""
    try:
        answer = control.call(agent.info["control"], "status", timeout=5)
    except (control.NoAnswer, TimeoutError):
        return None
    return answer if answer.get("ok") else None


def _get(url):
    try:
        return requests.get(url, timeout=2).json()
    except (requests.RequestException, ValueError):
        return None


# --- hooks ---------------------------------------------------------------------------------------
def hook(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def marker_processes(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return out.split()


def test_hooks_that_hang_hold_pipes_fork_or_nest_end_at_their_deadline(tmp_path):
    folder = tmp_path / "hooks"
    folder.mkdir()
    hook(folder, "closes_and_hangs", "exec >&- 2>&-\nexec sleep 101\n")
    hook(folder, "child_holds_pipe", "sleep 102 &\necho '{}'\nexit 0\n")
    hook(folder, "forks_background", "(sleep 103 >/dev/null 2>&1 &)\necho '{\"ok\": true}'\n")
    hook(folder, "deep_json", "python3 -c \"print('[' * 5000 + ']' * 5000)\"\n")
    hook(folder, "deep_object", "python3 -c \"print('{\\\"a\\\":' * 40 + '1' + '}' * 40)\"\n")
    hook(folder, "fine", 'echo \'{"version": "1"}\'\n')
    started = time.monotonic()
    results = run_hooks(folder, timeout_s=1.0, deadline_s=2.0)
    took = time.monotonic() - started
    assert took < 3.5, took  # the whole exchange within the deadline, not the children's lives
    assert results["fine"].ok
    assert not results["closes_and_hangs"].ok and "did not exit" in results["closes_and_hangs"].error
    assert not results["child_holds_pipe"].ok and "did not finish" in results["child_holds_pipe"].error
    assert (
        "stdout is JSON but not an object" in results["deep_json"].error
        or "nested deeper" in results["deep_json"].error
    )
    assert "nested deeper than 32" in results["deep_object"].error
    peers.wait_for(
        lambda: not any(marker_processes(f"sleep {n}") for n in (101, 102, 103)), 5, "no child of a hook to survive"
    )


def test_a_failing_hook_never_blocks_a_report(tmp_path, make_config, cli):
    folder = tmp_path / "hooks"
    folder.mkdir()
    hook(folder, "closes_and_hangs", "exec >&- 2>&-\nexec sleep 104\n")
    cfg = make_config(extra={"hooks": {"dir": str(folder), "timeout_s": 1.0, "deadline_s": 2.0}})
    out = tmp_path / "r.tar.gz"
    result = cli("report", "--config", cfg, *peers.report_argv("A hook hangs on this box"), "--out", out, timeout=30)
    assert result.returncode == 0, result.stderr
    from agent.report.bundle import read_bundle

    manifest, _ = read_bundle(out.read_bytes())
    assert any(f["section"] == "hooks/closes_and_hangs" for f in manifest["failed"])
    peers.wait_for(lambda: not marker_processes("sleep 104"), 5, "the hook's process gone")


# --- a full disk -------------------------------------------------------------------------------------
@pytest.fixture
def small_state(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(state)], check=True)
    yield state
    subprocess.run(["umount", "-l", str(state)])


def fill(folder: Path) -> Path:
    vfs = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * (vfs.f_bavail * vfs.f_frsize))
        except OSError:
            pass  # full: that is the point
    return filler


def test_the_daemon_starts_on_a_full_disk_and_says_so(small_state, make_config, cli, agent_process):
    cfg = make_config(extra={"report": {"wait_for_case_s": 0}})
    agent = agent_process(cfg)
    assert cli("report", "--config", cfg, *peers.report_argv("Waiting in the outbox")).returncode == 3
    agent.stop()
    fill(small_state)
    agent = agent_process(cfg)  # starts: no restart loop under systemd
    status = peers.wait_for(
        lambda: (
            (s := json.loads(cli("status", "--json", "--config", cfg).stdout))
            and any(f["code"] == "disk_almost_full" for f in s["faults"])
            and s
        ),
        30,
        "the full disk in status",
    )
    assert status["outbox"]["refused"] + status["outbox"]["accepted"] + status["outbox"]["sending"] == 1
    check = cli("check", "--config", cfg)
    assert "FAIL  Storage" in check.stdout
    onsite = cli("onsite", "on", "--config", cfg)
    assert "cannot be saved" in onsite.stderr + onsite.stdout and "Traceback" not in onsite.stderr
    assert json.loads(cli("status", "--json", "--config", cfg).stdout)["onsite"]["on"] is False
    assert agent.alive() and "Traceback" not in agent.log.read_text()


def test_a_receipt_that_cannot_be_written_is_not_lost(small_state, tmp_path, certs, make_config, cli, agent_process):
    intake = peers.start_intake(
        tmp_path / "busy",
        certs["cert"],
        certs["key"],
        extra=["--refuse", "1", "--refuse-status", "503", "--retry-after", "4"],
    )
    try:
        cfg = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"], "retry_base_s": 0.1, "retry_max_s": 2.0},
            extra={"report": {"wait_for_case_s": 0}},
        )
        agent = agent_process(cfg)
        cli("report", "--config", cfg, *peers.report_argv("Receipt on a full disk"))
        outbox = small_state / "outbox"
        peers.wait_for(
            lambda: any(json.loads(p.read_text())["attempts"] == 1 for p in outbox.glob("*.json")),
            10,
            "the first (refused) attempt",
        )
        filler = fill(small_state)  # the next attempt is delivered, and its receipt has no room
        peers.wait_for(lambda: "delivery state cannot be saved" in agent.log.read_text(), 20, "the failed save")
        assert agent.alive()
        filler.unlink()
        peers.wait_for(
            lambda: json.loads(cli("status", "--json", "--config", cfg).stdout)["outbox"]["delivered"] == 1,
            30,
            "the receipt kept",
        )
        cases = peers.intake_cases(tmp_path / "busy" / "intake")
        assert len(cases) == 1  # sent twice, one case: the backend knows the report by its id
    finally:
        intake.stop()


def test_no_canary_secret_in_any_encoding_leaves_the_box(
    tmp_path, make_config, intake, certs, broker, cli, agent_process
):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("firmware_version", "firmware_logs"):
        (hooks / name).symlink_to(peers.ROOT / "firmware_hooks" / name)
    lines = [f"{form}: {value}" for s in CANARY.values() for form, value in encoded(s).items()]
    lines += [f"split {s[:6]}\n{s[6:]}" for s in CANARY.values()]
    lines += [
        f"password={CANARY['env']}",
        f"upload https://box:{CANARY['mqtt']}@h.example/x",
        f"token https://{CANARY['token']}@h.example/",
    ]
    (tmp_path / "firmware.log").write_text("\n".join(lines) + "\n")
    hook(
        hooks,
        "vendor",
        f"echo '{json.dumps({'note': lines[:12], 'env': '$VENDOR_TOKEN'})}'\n"
        'echo "vendor login $VENDOR_TOKEN failed" >&2\nexit 1\n',
    )
    port = peers.free_port()
    cfg = make_config(
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        mqtt={"enabled": True, "port": broker.info["port"], "username": "box", "password": CANARY["mqtt"]},
        extra={
            "hooks": {"dir": str(hooks), "env": {"VENDOR_TOKEN": CANARY["env"]}},
            "web": {"port": port, "token": CANARY["token"]},
            "cloud": {"command_key": CANARY["key"]},
            "device": {
                "serial": "TEST-0001",
                "firmware_logs": [str(tmp_path / "firmware.log")],
                "firmware_version_file": str(tmp_path / "firmware-version"),
            },
        },
    )
    agent = agent_process(cfg)
    result = cli(
        "report",
        "--config",
        cfg,
        "--subject",
        f"My token {CANARY['env']} leaks",
        "--description",
        f"It says {base64.b64encode(CANARY['mqtt'].encode()).decode()} in the log",
        "--email",
        "owner@example.com",
    )
    assert result.returncode == 0, result.stderr
    places = {"cli": result.stdout + result.stderr}
    from agent.report.bundle import read_bundle

    for bundle in (tmp_path / "intake-run" / "intake" / "bundles").glob("*.tar.gz"):
        _, members = read_bundle(bundle.read_bytes())
        for name, data in members.items():
            places[f"bundle/{name}"] = data.decode("utf-8", "replace")
    places["page api"] = requests.get(
        f"http://127.0.0.1:{port}/api/reports", timeout=10, headers={"Authorization": f"Bearer {CANARY['token']}"}
    ).text
    places["status cli"] = cli("status", "--json", "--config", cfg).stdout
    client, got = peers.subscriber(broker, "diag-agent/+/status")
    try:
        places["status topic"] = json.dumps(got.get(timeout=10))
    finally:
        client.loop_stop()
        client.disconnect()
    for state in (tmp_path / "state" / "outbox").glob("*.json"):
        places[f"outbox/{state.name}"] = state.read_text()
    places["agent log"] = agent.log.read_text()
    found = {where: leaks(text) for where, text in places.items() if leaks(text)}
    assert not found, found
    assert len(places) >= 15


def test_the_page_listens_on_ipv6_loopback(make_config, agent_process):
    port = peers.free_port()
    agent_process(make_config(extra={"web": {"host": "::1", "port": port}}))

    def answers():
        try:
            return requests.get(f"http://[::1]:{port}/api/status", timeout=2).json()
        except (requests.RequestException, ValueError):
            return None

    assert peers.wait_for(answers, 15, "the page on [::1]")["ok"]
