"""Health of the box: collectors on this machine, software verdicts, health rules, self-check, events."""

from __future__ import annotations

import json
import os

from agent.collect import Box
from agent.config import FaultConfig, HealthConfig
from agent.health import collect_health, release_cache, releases_url
from agent.health.software import ReleaseCache
from agent.watch.checks import run_checks
from agent.watch.faults import FaultMonitor
from agent.watch.judge import software_verdict
from agent.watch.timeline import Timeline
from rigs import peers
from tests.unit.test_health import Usage, box  # noqa: F401  (fixtures and helpers shared with that tier)


def start_intake(tmp_path, certs, *releases):
    extra = [a for r in releases for a in ("--release", r)]
    return peers.start_intake(tmp_path / f"intake-{len(releases)}", certs["cert"], certs["key"], extra=extra)


def test_software_up_to_date_outdated_and_still_known_offline(tmp_path, box, certs):
    intake = start_intake(tmp_path, certs, "stable=2.4.1")
    try:
        cfg = box(intake.info["url"])
        sw = collect_health(cfg, release_cache(cfg))["software"]
        assert (sw["firmware_version"], sw["channel"], software_verdict(sw)) == ("2.4.1", "stable", "up to date")
        assert sw["latest"]["source"] == "backend"
    finally:
        intake.stop()
    newer = start_intake(tmp_path, certs, "stable=2.5.0")
    try:
        cfg = box(newer.info["url"])
        cache = ReleaseCache(releases_url(cfg), tmp_path / "releases.json", certs["ca"], refresh_s=0)
        assert software_verdict(collect_health(cfg, cache)["software"]) == "outdated"
    finally:
        newer.stop()
    # The backend is gone: the last known version still answers, with its age and why it is not fresh.
    offline = collect_health(cfg, cache)["software"]
    assert software_verdict(offline) == "outdated" and offline["latest"]["source"] == "cache"
    assert offline["latest"]["age_s"] >= 0 and "not fetched" in offline["latest"]["error"]


def test_network_and_outdated_software_are_health_faults(tmp_path, box, certs):
    intake = start_intake(tmp_path, certs, "stable=3.0")
    try:
        cfg = box(intake.info["url"])
        monitor = FaultMonitor(FaultConfig(), Timeline())
        monitor.evaluate_health(collect_health(cfg, release_cache(cfg)))
        assert "software_outdated" in {f["code"] for f in monitor.active_list()}
        assert "network_not_functional" not in {f["code"] for f in monitor.active_list()}
    finally:
        intake.stop()
    monitor.evaluate_health(collect_health(cfg, release_cache(cfg)))
    (net,) = [f for f in monitor.active_list() if f["code"] == "network_not_functional"]
    assert net["message"] == "not functional: backend unreachable"


def test_check_prints_the_list_and_fails_on_a_silent_meter(
    simulator, sim_bus, intake, certs, make_config, cli, tmp_path
):
    (tmp_path / "firmware-version").write_text("2.4.1\n")
    cfg = make_config(
        buses=[sim_bus], devices=peers.sim_devices(), backend={"url": intake.info["url"], "ca_file": certs["ca"]}
    )
    ok = cli("check", "--json", "--config", cfg)
    data = json.loads(ok.stdout)
    assert ok.returncode == (1 if data["result"] == "fail" else 0)
    by_id = {c["id"]: c for c in data["checks"]}
    assert by_id["device_meter:meter"]["status"] == "pass" and by_id["software"]["status"] == "pass"
    assert by_id["network"]["status"] == "pass" and by_id["commissioning"]["status"] == "warn"
    peers.simulator_command(simulator, "fault", "meter_silent", "on")
    bad = cli("check", "--config", cfg)
    assert bad.returncode == 1
    assert "FAIL  Meter meter" in bad.stdout
    assert "-> The meter does not answer: check the RS-485 wiring" in bad.stdout and "unit id (105)" in bad.stdout


def test_firmware_events_reach_the_daemon_or_wait_for_it(tmp_path, make_config, cli, agent_process):
    cfg = make_config()
    queued = cli("event", "fault", "--code", "RCD_TRIPPED", "--message", "RCD tripped while charging", "--config", cfg)
    assert queued.returncode == 3 and "queued" in queued.stdout
    bad = cli("event", "fault", "--code", "bad code!", "--message", "x", "--config", cfg)
    assert bad.returncode == 2 and "code: expected" in bad.stderr
    agent_process(cfg)

    def status():
        return json.loads(cli("status", "--json", "--config", cfg).stdout)

    (fault,) = [f for f in status()["faults"] if f["code"] == "RCD_TRIPPED"]
    assert fault["device"] == "firmware" and fault["message"] == "RCD tripped while charging"
    assert os.listdir(tmp_path / "state" / "events") == []
    assert cli("event", "clear", "--code", "RCD_TRIPPED", "--config", cfg).returncode == 0
    assert not [f for f in status()["faults"] if f["code"] == "RCD_TRIPPED"]
    assert cli("event", "updated", "--version", "2.5.0", "--config", cfg).returncode == 0


def test_a_silent_meter_leaves_the_mains_supply_unjudged_never_passed(simulator, sim_bus, make_config, cli):
    cfg = make_config(buses=[sim_bus], devices=peers.sim_devices())
    by_id = {c["id"]: c for c in json.loads(cli("check", "--json", "--config", cfg).stdout)["checks"]}
    assert by_id["grid"]["status"] == "pass"
    peers.simulator_command(simulator, "fault", "meter_silent", "on")
    result = cli("check", "--json", "--config", cfg)
    by_id = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert by_id["grid"]["status"] == "no_data" and "does not answer" in by_id["grid"]["detail"]
    assert "No meter answers" in by_id["grid"]["hint"]
    assert "NODATA Mains supply" in cli("check", "--config", cfg).stdout


def test_a_serial_port_that_cannot_be_opened_gets_the_adapters_hint_not_the_gateways(make_config, cli, tmp_path):
    path = make_config(
        buses=[{"name": "rs485", "type": "rtu", "device": str(tmp_path / "ttyUSB9"), "timeout_s": 0.2}],
        devices=[{"name": "meter", "bus": "rs485", "profile": "sdm630", "unit": 105}],
    )
    checks = json.loads(cli("check", "--json", "--config", path).stdout)["checks"]
    meter = next(c for c in checks if c["id"] == "device_meter:meter")
    assert meter["status"] == "fail" and "serial port cannot be opened" in meter["hint"]
    assert "TCP gateway" not in meter["hint"]


def test_software_unknown_without_a_release_source_or_version(tmp_path, box):
    cfg = box("")
    sw = collect_health(cfg, release_cache(cfg))["software"]
    assert software_verdict(sw) == "unknown" and sw["current"] is None
    (tmp_path / "firmware-version").unlink()
    sw = collect_health(cfg, release_cache(cfg))["software"]
    assert sw["firmware_version"] == "unknown" and "exited with code 1" in sw["firmware_hook_error"]


def test_health_rules_for_a_full_disk_a_hot_soc_undervoltage_and_a_failing_hook(tmp_path, box, mocker):
    cfg = box("")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "broken").write_text("#!/bin/sh\nexit 1\n")
    (hooks / "pi_throttling").write_text('#!/bin/sh\necho \'{"available": true, "undervoltage_now": true}\'\n')
    for p in hooks.iterdir():
        p.chmod(0o755)
    cfg.hooks.dir = str(hooks)
    # What cannot exist here: a full disk and a hot SoC.
    mocker.patch("psutil.disk_usage", return_value=Usage(8 << 30, (8 << 30) - (80 << 20), 80 << 20, 99.0))
    mocker.patch("agent.health.system.soc_temperatures", return_value={"cpu-thermal": 86.5})
    mocker.patch("agent.health.system.clock_synced", return_value=False)
    monitor = FaultMonitor(FaultConfig(), Timeline(), health=HealthConfig(hook_failures_before_fault=2))
    for _ in range(2):
        health = collect_health(cfg, release_cache(cfg))
        monitor.evaluate_health(health)
    codes = {(f["code"], f["device"]) for f in monitor.active_list()}
    assert {
        ("disk_almost_full", "box"),
        ("soc_hot", "box"),
        ("undervoltage", "box"),
        ("clock_not_synced", "box"),
        ("hook_failing", "broken"),
    } <= codes
    checks = {c.id: c for c in run_checks(cfg, Box({}, health, monitor.active_list()))}
    assert checks["disk"].status == "fail" and "99 % full" in checks["disk"].hint
    assert checks["temperature"].status == "fail" and checks["power_supply"].status == "fail"
    assert checks["hooks"].status == "warn" and "broken" in checks["hooks"].hint


def test_the_clock_state_is_read_where_the_sandbox_refuses_adjtimex(tmp_path, mocker, monkeypatch):
    from agent.health import system

    mocker.patch.object(system, "_adjtimex", return_value=None)  # ProtectClock=yes: EPERM even for reading
    flag = tmp_path / "synchronized"
    mocker.patch.object(system, "TIMESYNC_FLAG", flag)
    monkeypatch.setenv("PATH", str(tmp_path))  # no timedatectl at all
    assert system.clock_synced() is None
    fake = tmp_path / "timedatectl"
    fake.write_text("#!/bin/sh\n[ \"$*\" = 'show --property=NTPSynchronized --value' ] && echo no\n")
    fake.chmod(0o755)
    assert system.clock_synced() is False  # timedated's word, from outside the sandbox
    flag.touch()
    assert system.clock_synced() is True  # systemd-timesyncd has synchronised
