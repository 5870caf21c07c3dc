"""Through any network: the box behind Debian's tinyproxy in a network namespace where only the proxy
reaches the backend (from the environment, and from backend.proxy with a login), NO_PROXY, and the HTTP
client against servers that redirect, compress, trickle, want URL credentials or have an international
name."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from rigs import peers
from rigs.netns import Namespaces
from tests.unit.test_proxy import Behaviour  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.fixture
def site(tmp_path):
    """A box namespace and a site namespace on one link (10.214.0.2 and .1): the intake and tinyproxy run in
    the site's, the intake on its loopback only, so from the box nothing but the proxy's port is reachable."""
    ns = Namespaces()
    box, router = ns.add("box"), ns.add("site")
    left, right = ns.veth(box, router)
    ns.ip("addr", "add", "10.214.0.2/24", "dev", left, ns=box)
    ns.ip("link", "set", left, "up", ns=box)
    ns.ip("addr", "add", "10.214.0.1/24", "dev", right, ns=router)
    ns.ip("link", "set", right, "up", ns=router)
    ns.ip("route", "add", "default", "via", "10.214.0.1", ns=box)
    yield {"box": box, "site": router, "ns": ns}
    ns.remove()


def start_tinyproxy(folder: Path, netns: str, login: str | None = None) -> tuple[peers.Peer, int, Path]:
    """tinyproxy in NETNS on 10.214.0.1 (with LOGIN user:password wanted); returns it, its port, its log."""
    port = peers.free_port()
    folder.mkdir(parents=True, exist_ok=True)
    conf, log = folder / f"tinyproxy-{port}.conf", folder / f"access-{port}.log"
    lines = [f"Port {port}", "Listen 10.214.0.1", "Timeout 30", "LogLevel Info", "Allow 10.214.0.0/24"]
    lines.append(f'LogFile "{log}"')
    lines += ["MaxClients 20"] + ([f"BasicAuth {login.replace(':', ' ')}"] if login else [])
    conf.write_text("\n".join(lines) + "\n")
    proxy = peers.spawn("tinyproxy", ["ip", "netns", "exec", netns, "tinyproxy", "-d", "-c", str(conf)], folder)

    def listening():
        if not proxy.alive():
            raise peers.PeerError(f"tinyproxy did not start:\n{proxy.log_tail()}")
        probe = subprocess.run(
            ["ip", "netns", "exec", netns, "bash", "-c", f"exec 3<>/dev/tcp/10.214.0.1/{port}"], capture_output=True
        )
        return probe.returncode == 0

    peers.wait_for(listening, 15, "tinyproxy to listen")
    return proxy, port, log


def test_the_box_behind_a_proxy_delivers_through_it_and_only_through_it(site, tmp_path, certs, make_config, cli):
    wrap = ["ip", "netns", "exec", site["site"]]
    intake = peers.start_intake(tmp_path / "intake-run", certs["cert"], certs["key"], wrap=wrap)
    proxy, port, proxy_log = start_tinyproxy(tmp_path / "proxy", site["site"])
    box = ["ip", "netns", "exec", site["box"]]
    running = [intake, proxy]
    try:
        cfg = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"], "timeout_s": 5, "retry_base_s": 0.2},
            extra={"report": {"wait_for_case_s": 3}},
        )
        # No proxy: the backend is not reachable from the box, and the self-check says why.
        agent = peers.start_agent(tmp_path / "agent-run", cfg, wrap=box)
        running.append(agent)
        out = cli("report", "--config", cfg, *peers.report_argv("Without the proxy"))
        assert out.returncode == 3 and "Connection refused" in out.stdout, out.stdout + out.stderr
        agent.stop()
        # HTTPS_PROXY from the environment, as the site's other machines have it.
        agent = peers.start_agent(
            tmp_path / "agent-run", cfg, wrap=box, env={"HTTPS_PROXY": f"http://10.214.0.1:{port}"}
        )
        running.append(agent)
        out = cli("report", "--config", cfg, *peers.report_argv("Through the proxy"))
        assert out.returncode == 0 and "delivered: case CASE-" in out.stdout, out.stdout + out.stderr
        connect = next(line for line in proxy_log.read_text().splitlines() if "CONNECT 127.0.0.1" in line)
        assert f"CONNECT 127.0.0.1:{intake.info['port']}" in connect
        (tmp_path / "connect-line.txt").write_text(connect + "\n")
        check = json.loads(cli("check", "--json", "--config", cfg).stdout)
        network = next(c for c in check["checks"] if c["id"] == "network")
        assert network["status"] == "pass", network
    finally:
        for peer in reversed(running):
            peer.stop()


def test_backend_proxy_with_a_login_is_used_and_never_shown_and_no_proxy_bypasses_it(
    site, tmp_path, certs, make_config, cli
):
    wrap = ["ip", "netns", "exec", site["site"]]
    intake = peers.start_intake(tmp_path / "intake-run", certs["cert"], certs["key"], wrap=wrap)
    secret = "pr0xy-Secret-4711"
    proxy, port, proxy_log = start_tinyproxy(tmp_path / "proxy", site["site"], login=f"installer:{secret}")
    box = ["ip", "netns", "exec", site["box"]]
    running = [intake, proxy]
    try:
        backend = {"url": intake.info["url"], "ca_file": certs["ca"], "timeout_s": 5, "retry_base_s": 0.2}
        cfg = make_config(
            backend=dict(backend, proxy=f"http://installer:{secret}@10.214.0.1:{port}"),
            extra={"report": {"wait_for_case_s": 3}},
        )
        agent = peers.start_agent(tmp_path / "agent-run", cfg, wrap=box)
        running.append(agent)
        out = cli("report", "--config", cfg, *peers.report_argv("Through the proxy with a login"))
        assert out.returncode == 0 and "delivered: case CASE-" in out.stdout, out.stdout + out.stderr
        assert "CONNECT 127.0.0.1" in proxy_log.read_text()
        status = cli("status", "--json", "--config", cfg).stdout
        check = cli("check", "--json", "--config", cfg).stdout
        network = next(c for c in json.loads(check)["checks"] if c["id"] == "network")
        assert network["status"] == "pass" and secret not in check and secret not in status
        assert secret not in agent.log.read_text()
        agent.stop()
        # A wrong login: the proxy refuses, and the self-check sends the person to the proxy's settings.
        bad = make_config(backend=dict(backend, proxy=f"http://installer:wrong@10.214.0.1:{port}"))
        agent = peers.start_agent(tmp_path / "agent-run", bad, wrap=box)
        running.append(agent)
        checks = json.loads(cli("check", "--json", "--config", bad).stdout)["checks"]
        network = next(c for c in checks if c["id"] == "network")
        assert network["status"] == "fail" and "through the proxy" in network["hint"], network
        assert re.search(r"answered HTTP/1\.\d 40[17] ", network["hint"]), network["hint"]  # tinyproxy says 401
        assert "wrong" not in network["hint"]  # the login is never shown, right or wrong
        agent.stop()
        # NO_PROXY names the backend's host: the box goes direct, and from the box that is refused.
        agent = peers.start_agent(tmp_path / "agent-run", cfg, wrap=box, env={"NO_PROXY": "127.0.0.1"})
        running.append(agent)
        out = cli("report", "--config", cfg, *peers.report_argv("Past the proxy"))
        assert out.returncode == 3 and "Connection refused" in out.stdout, out.stdout
    finally:
        for peer in reversed(running):
            peer.stop()


def test_threads_making_their_first_exchange_at_once_all_get_a_client():
    """The daemon's first exchanges start together (the release check, the cases, a report): each must find
    requests whole, never half imported by another thread."""
    import subprocess
    import sys

    code = (
        "import threading\nfrom agent.transports import http\nerrors = []\n"
        "def go():\n    try:\n        http._requests().Session()\n    except Exception as e:\n"
        "        errors.append(repr(e))\n"
        "ts = [threading.Thread(target=go) for _ in range(8)]\n[t.start() for t in ts]\n[t.join() for t in ts]\n"
        "print(len(errors))\n"
    )
    for _ in range(3):  # a fresh interpreter each time: the race is in the first import
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=peers.agent_env()
        )
        assert out.stdout.strip() == "0", out.stdout + out.stderr
