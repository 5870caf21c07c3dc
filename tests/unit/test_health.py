"""Health of the box: collectors on this machine, software verdicts, health rules, self-check, events."""

from __future__ import annotations

from collections import namedtuple

import pytest

from agent import config
from agent.config import HealthConfig
from agent.health.software import version_key
from agent.health.system import collect_system


def test_system_collector_on_this_machine(tmp_path):
    s = collect_system(str(tmp_path))
    assert s["cpu_count"] >= 1 and len(s["load_average"]) == 3
    assert s["memory"]["total_mb"] > 0 and 0 <= s["memory"]["used_percent"] <= 100
    assert s["disk"]["path"] == str(tmp_path) and 0 <= s["disk"]["used_percent"] <= 100
    assert s["uptime_s"] > 0 and s["boot_time"] < s["boot_time"] + s["uptime_s"]
    assert s["clock_synced"] in (True, False, None)
    assert 1 <= len(s["top_processes"]) <= 5 and all(p["rss_kb"] >= 0 for p in s["top_processes"])
    # Before the first report the state folder may not exist: its partition is measured.
    assert "used_percent" in collect_system(str(tmp_path / "state" / "not-yet"))["disk"]


def test_version_order():
    assert version_key("2.10.1") > version_key("2.9") > version_key("2.4.1-rc1") > version_key("2.4")
    assert version_key("unknown") is None


@pytest.fixture
def box(tmp_path, make_config, certs):
    """The rig's configuration with the shipped hooks and a version file."""
    (tmp_path / "firmware-version").write_text("2.4.1 stable\n")

    def cfg(backend_url="", **kw):
        return config.load(make_config(backend={"url": backend_url, "ca_file": certs["ca"]}, **kw))

    return cfg


Usage = namedtuple("Usage", "total used free percent")


def test_hints_cover_every_check_outcome():
    from agent.watch.checks import load_hints

    hints = load_hints("en")
    for check_id in (
        "software",
        "device_meter",
        "device_charge_controller",
        "charging",
        "grid",
        "network",
        "broker",
        "clock",
        "disk",
        "temperature",
        "power_supply",
        "memory",
        "commissioning",
        "cloud_credentials",
        "hooks",
        "outbox",
    ):
        assert check_id in hints["titles"] and hints[check_id]["pass"]


def test_a_refused_system_call_costs_its_one_value_not_the_section(tmp_path, mocker):
    import errno

    from agent.health.network import collect_network
    from agent.health.system import collect_system

    refused = OSError(errno.ENOSYS, "Function not implemented")
    mocker.patch("psutil.net_if_stats", side_effect=refused)  # the ethtool ioctl, refused under emulation
    network = collect_network("", (), None)
    assert network["unavailable"]["net_if_stats"].startswith("OSError")
    assert "lo" in network["interfaces"] and network["steps"]["link"]["detail"]
    mocker.patch("psutil.virtual_memory", side_effect=PermissionError(errno.EPERM, "Operation not permitted"))
    system = collect_system(str(tmp_path))
    assert "memory" in system["unavailable"] and system["memory"]["used_percent"] is None
    assert system["disk"]["used_percent"] >= 0 and system["load_average"] is not None
    from agent.watch.judge import judge_health

    health = {
        "system": system,
        "network": network,
        "hooks": {},
        "software": {
            "current": None,
            "firmware_version": "2.4.1",
            "channel": "stable",
            "latest": {"version": None, "error": "offline"},
        },
    }
    judged = {j.topic: j.status for j in judge_health(health, HealthConfig())}
    assert judged["memory"] == "no_data" and judged["disk"] == "pass"
