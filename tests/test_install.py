"""scripts/install.sh into a staging root, and the systemd unit as systemd-analyze sees it."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT


def install(root):
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh"), "--root", str(root)], capture_output=True, text=True, timeout=300
    )


def test_install_stages_venv_config_profiles_and_an_enabled_unit(tmp_path):
    root = tmp_path / "root"
    first = install(root)
    assert first.returncode == 0, first.stderr
    agent = root / "opt/diag-agent/venv/bin/diag-agent"
    config = root / "etc/diag-agent/agent.yaml"
    assert (root / "etc/diag-agent/profiles/sdm630.yaml").exists()
    assert os.access(root / "opt/diag-agent/hooks/firmware_version", os.X_OK)
    assert not os.access(root / "opt/diag-agent/hooks/README.md", os.X_OK)
    wants = root / "etc/systemd/system/multi-user.target.wants/diag-agent.service"
    assert os.readlink(wants) == "/etc/systemd/system/diag-agent.service"
    assert "m diag-agent dialout" in (root / "usr/lib/sysusers.d/diag-agent.conf").read_text()
    check = subprocess.run([str(agent), "check-config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    # A second install keeps the installer's configuration and added profiles.
    config.write_text(config.read_text().replace('serial: "DEMO-000123"', 'serial: "BOX-77"'))
    (root / "etc/diag-agent/profiles/my_meter.yaml").write_text("model: mine\n")
    again = install(root)
    assert again.returncode == 0, again.stderr
    assert "keeping the existing" in again.stdout
    assert 'serial: "BOX-77"' in config.read_text()
    assert (root / "etc/diag-agent/profiles/my_meter.yaml").exists()


def test_systemd_analyze_accepts_the_unit(tmp_path):
    unit = (ROOT / "systemd" / "diag-agent.service").read_text()
    # verify checks that ExecStart exists: point it at a stand-in for the installed venv.
    fake = tmp_path / "opt/diag-agent/venv/bin/diag-agent"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    staged = tmp_path / "diag-agent.service"
    staged.write_text(unit.replace("/opt/diag-agent", str(tmp_path / "opt/diag-agent")))
    result = subprocess.run(["systemd-analyze", "verify", str(staged)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=diag-agent",
        "DeviceAllow=char-ttyUSB rw",
        "SupplementaryGroups=dialout",
    ):
        assert line in unit
