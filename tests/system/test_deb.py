"""The Debian package (packaging/build_deb.sh) as an image build meets it: built inside a Debian 12 root, installed
with apt into a fresh root that has no network at all, the unit enabled, the user made by sysusers, the
configuration a conffile that an upgrade keeps, the tested library versions inside, and a purge that leaves the
root as it was. The ARM builds run in tests/test_arm.py, the package under a booted systemd in test_systemd.py."""

from __future__ import annotations

import re
import subprocess

from rigs import peers
from rigs.debian_roots import Chroot, install_package, make_root


def listing(root) -> set[str]:
    """Every path in the root, less apt's own caches and logs (apt writes those whatever it installs)."""
    found = subprocess.run(["find", ".", "-xdev"], cwd=root, capture_output=True, text=True, check=True).stdout
    noise = ("./var/cache/apt/", "./var/lib/apt/", "./var/log/apt/", "./var/log/dpkg.log", "./tmp/")
    return {p for p in found.splitlines() if not p.startswith(noise)}


def test_the_package_installs_offline_keeps_the_configuration_and_purges_cleanly(debian_package, tmp_path):
    deb = debian_package("amd64")
    info = subprocess.run(["dpkg-deb", "-f", str(deb), "Architecture", "Depends"], capture_output=True, text=True)
    assert "Architecture: amd64" in info.stdout and "python3-psutil" in info.stdout, info.stdout
    files = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    (tmp_path / "dpkg-c.txt").write_text(files)
    for path in (
        "./lib/systemd/system/diag-agent.service",
        "./usr/lib/sysusers.d/diag-agent.conf",
        "./etc/diag-agent/agent.yaml",
        "./etc/diag-agent/profiles/sdm630.yaml",
        "./opt/diag-agent/venv/bin/diag-agent",
        "./opt/diag-agent/hooks/firmware_version",
        "./usr/bin/diag-agent -> /opt/diag-agent/venv/bin/diag-agent",
        "./usr/share/doc/diag-agent/copyright",
        "./opt/diag-agent/hooks/ocpp/diag_agent_ocpp.py",
    ):
        assert path in files, path
    assert "/site-packages/pip/" not in files  # nothing installs into the shipped venv

    root = make_root("amd64", tmp_path / "root")
    before = listing(root)
    chroot = Chroot(root)
    try:
        interfaces = chroot.run("tail -n +3 /proc/net/dev", network=False).stdout.split()
        assert [i for i in interfaces if i.endswith(":")] == ["lo:"]  # only loopback: truly offline
        installed = install_package(chroot, deb)
        assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
        assert (root / "etc/systemd/system/multi-user.target.wants/diag-agent.service").readlink().as_posix() == (
            "/lib/systemd/system/diag-agent.service"
        )
        assert re.search(r"groups=.*\(dialout\).*\(gpio\)", chroot.run("id diag-agent").stdout)
        assert chroot.run("stat -c '%U:%G %a' /etc/diag-agent/agent.yaml").stdout.strip() == "root:diag-agent 640"
        conffiles = chroot.run("dpkg-query -W -f='${Conffiles}' diag-agent").stdout
        assert "/etc/diag-agent/agent.yaml" in conffiles and "/etc/diag-agent/profiles/sdm630.yaml" in conffiles
        check = chroot.run("diag-agent check-config /etc/diag-agent/agent.yaml")
        assert check.returncode == 0 and "OK" in check.stdout, check.stdout + check.stderr

        # The venv holds exactly the versions the tests ran against.
        pins = dict(
            line.split("==")
            for line in (peers.ROOT / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")
        )
        shown = chroot.run(
            "/opt/diag-agent/venv/bin/python -c 'import importlib.metadata as m, sys; "
            'print("\\n".join(f"{n}=={m.version(n)}" for n in sys.argv[1:]))\' ' + " ".join(pins)
        )
        assert dict(line.split("==") for line in shown.stdout.split()) == pins, shown.stdout + shown.stderr

        # The installer's configuration survives the package installed again (an upgrade does the same).
        config = root / "etc/diag-agent/agent.yaml"
        config.write_text(config.read_text().replace('serial: "DEMO-000123"', 'serial: "BOX-77"'))
        again = chroot.run(
            f"DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall /tmp/{deb.name}", network=False
        )
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        assert 'serial: "BOX-77"' in config.read_text()

        # The agent's state and a stray byte-code folder (the hooks' glue run by hand) go with a purge.
        (root / "var/lib/diag-agent/outbox").mkdir(parents=True)
        (root / "opt/diag-agent/hooks/ocpp/__pycache__").mkdir()
        purged = chroot.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y diag-agent", network=False)
        assert purged.returncode == 0, purged.stdout[-2000:] + purged.stderr[-2000:]
        assert chroot.run("getent passwd diag-agent").returncode == 2
    finally:
        chroot.close()
    after = listing(root)
    left, gone = sorted(after - before), sorted(before - after)
    # sysusers made the gpio group, which the system keeps (Raspberry Pi OS has it anyway).
    assert left == [] and gone == [], (left[:20], gone[:20])
