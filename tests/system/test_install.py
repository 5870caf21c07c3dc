"""packaging/install.sh into a staging root and into a Debian root as an image build runs it, and the systemd unit
as systemd-analyze sees it and as the example configuration needs it."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from rigs.debian_roots import Chroot, make_root
from rigs.peers import ROOT


def install(root):
    return subprocess.run(
        ["bash", str(ROOT / "packaging" / "install.sh"), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
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
    assert os.readlink(wants) == "/lib/systemd/system/diag-agent.service"
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


def test_install_in_an_image_build_makes_the_user_and_enables_the_unit(tmp_path):
    root = make_root("amd64", tmp_path / "root")
    # An install of an earlier release put the unit among the box's own ones.
    (root / "etc/systemd/system/diag-agent.service").write_text("[Unit]\nDescription=diag-agent: old\n")
    chroot = Chroot(root)
    try:
        done = chroot.run("bash /src/packaging/install.sh --no-apt", timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "no running systemd here" in done.stdout
        assert chroot.run("id -nG diag-agent").stdout.split() == ["diag-agent", "dialout", "gpio"]
        assert chroot.run("stat -c '%U:%G %a' /etc/diag-agent/agent.yaml").stdout.strip() == "root:diag-agent 640"
    finally:
        chroot.close()
    assert not (root / "etc/systemd/system/diag-agent.service").exists()
    wants = root / "etc/systemd/system/multi-user.target.wants/diag-agent.service"
    assert os.readlink(wants) == "/lib/systemd/system/diag-agent.service"


def writable_under(unit: str) -> list[str]:
    """The folders the unit's sandbox (ProtectSystem=strict) leaves writable: its StateDirectory, ReadWritePaths."""
    folders = ["/var/lib/" + d for d in re.findall(r"^StateDirectory=(.+)$", unit, re.M)[0].split()]
    for line in re.findall(r"^ReadWritePaths=(.+)$", unit, re.M):
        folders += [p.lstrip("-") for p in line.split()]
    return folders


def test_every_path_the_example_configuration_writes_is_writable_under_the_unit():
    unit = (ROOT / "systemd" / "diag-agent.service").read_text()
    assert "ProtectSystem=strict" in unit
    text = (ROOT / "config" / "agent.yaml").read_text()
    example = yaml.safe_load(text)
    written = [example["state_dir"]]
    written += [b["lock_file"] for b in example["buses"] if b.get("lock_file")]
    written += re.findall(r"lock_file:.*example: (/\S+?),", text)  # the lock the comment suggests
    assert len(written) >= 2, written
    folders = writable_under(unit)
    for path in written:
        assert any(path == f or path.startswith(f + "/") for f in folders), (path, folders)
