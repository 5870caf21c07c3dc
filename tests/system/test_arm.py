"""The package and a report on the boards we ship to: Debian 12 roots for armhf (32-bit: Pi 2/3, Zero 2 W) and
arm64, built by debootstrap and run under qemu-user-static (packaging/debian_root.sh, cached between runs).
packaging/build_deb.sh builds the package inside a root of the board's architecture (its install.sh runs
there); apt installs it into a fresh root of that architecture with no network, as a firmware image build
does (a chroot, no running systemd), and the installed agent reads the simulator over TCP, builds a report
and verifies it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigs import peers
from rigs.debian_roots import Chroot, install_package, make_root

MACHINE = {"armhf": "armv7l", "arm64": "aarch64"}


@pytest.mark.parametrize("arch", ["armhf", "arm64"])
def test_the_package_and_a_report_on_arm(arch, tmp_path, simulator, debian_package):
    deb = debian_package(arch)
    assert deb.name.endswith(f"_{arch}.deb")
    root = make_root(arch, tmp_path / "root")
    chroot = Chroot(root)
    try:
        assert chroot.run("uname -m").stdout.strip() == MACHINE[arch]
        assert chroot.run("command -v gcc cc || echo none").stdout.strip() == "none"  # a box has no compiler
        install = install_package(chroot, deb)
        (tmp_path / f"install-{arch}.log").write_text(install.stdout + install.stderr)
        assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
        assert (root / "etc/systemd/system/multi-user.target.wants/diag-agent.service").is_symlink()
        assert chroot.run("getent passwd diag-agent").returncode == 0
        # psutil and PyYAML are Debian's (compiled for this board), seen from the agent's venv.
        where = chroot.run(
            "/opt/diag-agent/venv/bin/python -c 'import psutil, yaml; print(psutil.__file__, yaml.__file__)'"
        )
        assert where.stdout.count("/usr/lib/python3/dist-packages/") == 2, where.stdout + where.stderr

        config = peers.write_agent_config(
            root / "etc/diag-agent/test.yaml",
            serial=f"ARM-{arch}",
            buses=[{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": simulator.info["tcp_port"]}],
            devices=peers.sim_devices(),
            backend={},
            state_dir="/var/lib/diag-agent-test",
        )
        cfg = json.loads(config.read_text())
        for key in ("firmware_version_file", "commissioning_protocol", "cloud_credentials_file"):
            cfg["device"][key] = "/etc/diag-agent/" + Path(cfg["device"][key]).name
        cfg["device"]["firmware_logs"] = ["/var/log/firmware.log"]
        cfg["hooks"]["dir"], cfg["profiles_dir"] = "/opt/diag-agent/hooks", "/etc/diag-agent/profiles"
        config.write_text(json.dumps(cfg))
        (root / "etc/diag-agent/firmware-version").write_text("2.4.1\n")
        poll = chroot.run("/opt/diag-agent/venv/bin/diag-agent poll --once --json --config /etc/diag-agent/test.yaml")
        assert poll.returncode == 0 and json.loads(poll.stdout)["meter"]["values"], poll.stdout + poll.stderr
        report = chroot.run(
            "/opt/diag-agent/venv/bin/diag-agent report --subject 'A report made on an ARM board' "
            f"--description '{peers.REPORT_DESCRIPTION}' --email {peers.REPORT_EMAIL} "
            "--config /etc/diag-agent/test.yaml --out /root/report.tar.gz && "
            "/opt/diag-agent/venv/bin/diag-agent inspect /root/report.tar.gz"
        )
        (tmp_path / f"report-{arch}.txt").write_text(report.stdout + report.stderr)
        assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
        assert "every checksum OK" in report.stdout and f"serial ARM-{arch}" in report.stdout
    finally:
        chroot.close()
