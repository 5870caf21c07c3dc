"""The test rig: real peers on free loopback ports, started and stopped by the fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import peers  # noqa: E402


def pytest_addoption(parser):
    # Long modes scale up a test's counts (kills, soak time); nothing is skipped without it.
    parser.addoption("--long", action="store_true", help="run the long modes (soak, many kills)")


# Where a test lives says what it needs; its duration on a 2-core machine says whether it is slow.
MODULE_MARKS = {
    "test_arm": ("arm", "slow"),
    "test_systemd": ("systemd", "slow"),
    "test_install": ("slow",),
    "test_deb": ("slow",),
    "test_crash": ("slow",),
    "test_fuzz": ("slow",),
}


# Tests elsewhere that take more than about 4 s on a 2-core machine (pytest --durations=60 says which).
SLOW_TESTS = {
    "test_time": (
        "test_daemon_through_an_old_boot_time_dst_and_ntp_steps",
        "test_soak_at_1_hz_with_reports_and_clock_steps",
        "test_the_watchdog_is_fed_while_jobs_run_and_starves_when_they_stop",
    ),
    "test_security": (
        "test_kill_9_during_a_cli_report_never_makes_it_twice",
        "test_1100_idle_connections_with_1024_files_do_not_end_the_daemon",
        "test_a_receipt_that_cannot_be_written_is_not_lost",
    ),
    "test_autoreport": ("test_a_burst_of_faults_cannot_pass_the_daily_cap",),
    "test_recorder": (
        "test_after_kill_9_at_random_moments_the_report_shows_the_window_from_before",
        "test_a_power_cut_while_recording_damages_nothing_synced_and_the_window_survives",
    ),
    "test_conversation": ("test_support_asks_and_the_installer_answers_with_text_and_a_photo_at_phone_width",),
    "test_transport": (
        "test_the_broker_restarting_between_publish_and_receipt_loses_nothing",
        "test_refused_credentials_are_not_authorized_and_never_a_reason_to_change_protocol",
        "test_auto_reaches_a_broker_that_speaks_only_3_1_1_writes_it_down_and_probes_again",
    ),
    "test_health": ("test_a_silent_meter_leaves_the_mains_supply_unjudged_never_passed",),
    "test_field": ("test_a_wrong_unit_id_gets_its_own_hint_and_the_scan_finds_the_device",),
    "test_daemon": ("test_watchdog_pings_come_from_the_main_loop",),
    "test_modbus": ("test_garbled_and_slow_replies_are_recorded_and_polling_goes_on",),
    "test_untrusted_agent": (
        "test_every_output_is_scrubbed_of_every_secret_and_shows_no_terminal_escape",
        "test_the_page_answers_within_2_s_while_1100_connections_trickle",
        "test_forged_deep_huge_and_stale_case_states_are_dropped_and_the_box_still_hears_support",
    ),
    "test_helpdesk": (
        "test_the_whole_conversation_runs_through_django_helpdesk",
        "test_two_workers_racing_on_100_retried_reports_open_100_tickets",
    ),
    "test_page": (
        "test_each_simulator_fault_lands_in_its_place",
        "test_one_visit_one_case_the_checklist_and_one_report_per_tap",
        "test_every_state_of_the_page_in_german_has_no_english",
    ),
}


def pytest_collection_modifyitems(items):
    for item in items:
        for mark in MODULE_MARKS.get(item.module.__name__, ()):
            item.add_marker(mark)
        if item.originalname in SLOW_TESTS.get(item.module.__name__, ()):
            item.add_marker("slow")
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker("browser")


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
    """The .deb for an architecture (scripts/build_deb.sh, inside a root of that architecture), built once per run."""
    from debian_roots import build_package

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
            env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
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
