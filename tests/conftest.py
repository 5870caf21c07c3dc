"""The test rig: real peers on free loopback ports, started and stopped by the fixtures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rigs import peers

ROOT = peers.ROOT


def pytest_addoption(parser):
    # Long modes scale up a test's counts (kills, soak time); nothing is skipped without it.
    parser.addoption("--long", action="store_true", help="run the long modes (soak, many kills)")


TIERS = ("unit", "integration", "system", "browser", "contract")
# The system tier builds Debian roots and packages, boots containers, cuts power: its tests get longer deadlines.
TIMEOUT_S = {"system": 2400, "browser": 600, "integration": 600}


def pytest_collection_modifyitems(items):
    """A test's tier is its folder (tests/<tier>/): the marker comes from where it lives, never from a list."""
    for item in items:
        tier = Path(str(item.path)).relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(tier)
            if tier in TIMEOUT_S and not item.get_closest_marker("timeout"):
                item.add_marker(pytest.mark.timeout(TIMEOUT_S[tier]))


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A throwaway CA (trustme) and a server certificate for 127.0.0.1 and localhost."""
    import trustme

    folder = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(paths["cert"]), append=True)
    server.private_key_pem.write_to_path(str(paths["key"]))
    other = trustme.CA()  # a CA that signed nothing the intake uses
    paths["wrong_ca"] = folder / "wrong-ca.pem"
    other.cert_pem.write_to_path(str(paths["wrong_ca"]))
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="session")
def debian_package(tmp_path_factory):
    """The .deb for an architecture (packaging/build_deb.sh, inside a root of that architecture), built once per run."""
    from rigs.debian_roots import build_package

    built: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in built:
            built[arch] = build_package(arch, tmp_path_factory.mktemp(f"deb-{arch}"))
        return built[arch]

    return get


@pytest.fixture
def simulator(tmp_path):
    peer = peers.start_simulator(tmp_path / "sim")
    yield peer
    peer.stop()


@pytest.fixture
def rtu_simulator(tmp_path):
    """The simulator on one end of a socat pty pair; the agent's end is in info['agent_port']."""
    socat, sim_end, agent_end = peers.start_socat_pair(tmp_path / "rtu")
    peer = peers.start_simulator(tmp_path / "rtu", tcp=False, rtu=sim_end)
    peer.info["agent_port"] = agent_end
    yield peer
    peer.stop()
    socat.stop()


@pytest.fixture
def broker(tmp_path):
    peer = peers.start_mosquitto(tmp_path / "broker")
    yield peer
    peer.stop()


@pytest.fixture
def intake(tmp_path, certs):
    peer = peers.start_intake(tmp_path / "intake-run", certs["cert"], certs["key"])
    yield peer
    peer.stop()


@pytest.fixture
def sim_bus(simulator):
    return {
        "name": "sim",
        "type": "tcp",
        "host": "127.0.0.1",
        "port": simulator.info["tcp_port"],
        "timeout_s": 0.5,
        "retries": 0,
    }


@pytest.fixture
def make_config(tmp_path):
    """Write an agent configuration in tmp_path; keyword arguments override the rig's defaults."""
    (tmp_path / "firmware-version").write_text("2.4.1\n")

    def make(**kw):
        kw.setdefault("serial", "TEST-0001")
        kw.setdefault("buses", [])
        kw.setdefault("devices", [])
        kw.setdefault("backend", {})
        return peers.write_agent_config(tmp_path / "agent.yaml", **kw)

    return make


@pytest.fixture
def cli(tmp_path):
    """Run the real `diag-agent` command line; returns the CompletedProcess."""

    def run(*args, timeout=60, env=None):
        return subprocess.run(
            peers.agent_argv() + [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env=dict(os.environ, **(env or {})),
        )

    return run


class Agents:
    """Starts `diag-agent run` processes; `stop_all` ends every one started so far."""

    def __init__(self, folder):
        self.folder, self.started = folder, []

    def __call__(self, config, env=None):
        peer = peers.start_agent(self.folder, config, env=env)
        self.started.append(peer)
        return peer

    def stop_all(self):
        for peer in self.started:
            peer.stop()


@pytest.fixture
def agent_process(tmp_path):
    """Start `diag-agent run` on a config; every agent started is stopped at the end."""
    agents = Agents(tmp_path / "agent-run")
    yield agents
    agents.stop_all()


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium (the system's), driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()
