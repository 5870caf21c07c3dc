"""The shipped unit under a real systemd: a Debian 12 container (systemd-nspawn, systemd as its PID 1) with the
Debian package installed offline as an image build would, booted; readiness, the device read under the bus lock
the example configuration names (inside the unit's sandbox), the watchdog restarting a frozen agent, a clean
stop, the state folder's owner, the installer's group, and the self-check inside the unit's sandbox."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from rigs import peers
from rigs.debian_roots import PATH, Chroot, install_package, make_root

# The shipped WatchdogSec is 60 s; the test waits 5 s for a frozen agent instead (a drop-in, as a box could have).
DROP_IN = "[Service]\nWatchdogSec=5s\nRestartSec=1s\n"
# The bus lock the example configuration suggests (shared with a firmware's poller).
EXAMPLE_LOCK = re.search(r"lock_file:.*example: (/\S+?),", (peers.ROOT / "config/agent.yaml").read_text())[1]


class Container:
    def __init__(self, root, log):
        self.root = root
        self.proc = subprocess.Popen(
            [
                "systemd-nspawn",
                "-q",
                "-b",
                "-D",
                str(root),
                "--register=no",
                "--keep-unit",
                f"--machine=diag-{os.getpid()}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.leader = peers.wait_for(self._init, 30, "the container's init")

    def _init(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited with {self.proc.returncode}")
        # nspawn forks a short-lived helper before the container's init: only systemd itself is the leader.
        found = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-x", "systemd"], capture_output=True, text=True)
        return int(found.stdout.split()[0]) if found.stdout.split() else None

    def sh(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "--", "/bin/sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": PATH, "LANG": "C.UTF-8"},
        )

    def unit(self, *props: str) -> dict:
        out = self.sh("systemctl show diag-agent " + " ".join(f"-p {p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def close(self) -> None:
        os.kill(self.leader, signal.SIGKILL)  # the container's PID 1: everything in it goes with it
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def container(tmp_path, simulator, debian_package):
    root = make_root("amd64", tmp_path / "root")
    chroot = Chroot(root)
    try:
        done = install_package(chroot, debian_package("amd64"))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert chroot.run("useradd --create-home --groups diag-agent installer").returncode == 0
    finally:
        chroot.close()
    etc = root / "etc/diag-agent"
    config = peers.write_agent_config(
        tmp_path / "agent.json",
        serial="NSPAWN-0001",
        buses=[
            {"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": simulator.info["tcp_port"]}
            | {"lock_file": EXAMPLE_LOCK}
        ],
        devices=peers.sim_devices(),
        backend={},
        state_dir="/var/lib/diag-agent",
    )
    cfg = json.loads(config.read_text())
    cfg["device"].update(
        firmware_version_file="/etc/diag-agent/firmware-version",
        commissioning_protocol="/etc/diag-agent/commissioning.pdf",
        cloud_credentials_file="/etc/diag-agent/cloud.json",
        firmware_logs=["/var/log/firmware.log"],
    )
    cfg.update(profiles_dir="/etc/diag-agent/profiles", hooks={"dir": "/opt/diag-agent/hooks"})
    (etc / "agent.yaml").write_text(
        json.dumps(cfg)
    )  # the installed file: its owner and mode stay (root:diag-agent 0640)
    (etc / "firmware-version").write_text("2.4.1\n")
    (root / "etc/systemd/system/diag-agent.service.d").mkdir(exist_ok=True)
    (root / "etc/systemd/system/diag-agent.service.d/test.conf").write_text(DROP_IN)
    with open(tmp_path / "console.log", "wb") as log:
        box = Container(root, log)
        try:
            yield box
        finally:
            box.close()


def test_the_shipped_unit_under_a_booted_systemd(container, tmp_path):
    box = container
    shown = {}
    # Ready: Type=notify makes the unit active only once the agent has said READY=1.
    peers.wait_for(
        lambda: box.unit("ActiveState", "SubState") == {"ActiveState": "active", "SubState": "running"},
        90,
        "diag-agent active under systemd",
    )
    times = box.unit("ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic", "MainPID", "Type")
    assert times["Type"] == "notify"
    shown["ready_s"] = round(
        (int(times["ActiveEnterTimestampMonotonic"]) - int(times["ExecMainStartTimestampMonotonic"])) / 1e6, 2
    )
    assert box.sh("stat -c '%U:%G %a' /var/lib/diag-agent").stdout.strip() == "diag-agent:diag-agent 750"
    assert box.sh("stat -c '%U:%G %a' /etc/diag-agent/agent.yaml").stdout.strip() == "root:diag-agent 640"

    # The installer, in the documented group, asks the running agent; the self-check runs inside the sandbox.
    status = box.sh("runuser -u installer -- /opt/diag-agent/venv/bin/diag-agent status --json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["devices"]["meter"]["reachable"] is True
    # Every read took the bus lock (ProtectSystem=strict leaves /run/lock writable, ReadWritePaths).
    assert box.sh(f"stat -c %U {EXAMPLE_LOCK}").stdout.strip() == "diag-agent"
    check = box.sh("runuser -u installer -- /opt/diag-agent/venv/bin/diag-agent check --json", timeout=120)
    items = {c["id"]: (c["status"], c["detail"]) for c in json.loads(check.stdout)["checks"]}
    shown["self_check"] = items
    for topic in ("disk", "memory", "network", "device_meter:meter", "device_charge_controller:evse"):
        assert items[topic][0] != "no_data", (topic, items[topic])
    # The clock: ProtectClock=yes refuses adjtimex even for reading; the state is read through timesyncd or timedated.
    assert items["clock"][0] in ("pass", "warn"), items["clock"]
    logs = box.sh("journalctl -u diag-agent --no-pager -o cat").stdout
    assert "Traceback" not in logs

    # The watchdog: a frozen agent is killed and started again.
    frozen = times["MainPID"]
    box.sh(f"kill -STOP {frozen}")
    peers.wait_for(
        lambda: (
            (u := box.unit("NRestarts", "MainPID", "ActiveState"))
            and u["NRestarts"] == "1"
            and u["MainPID"] not in ("0", frozen)
            and u["ActiveState"] == "active"
        ),
        60,
        "a restart by the watchdog",
    )
    assert "Watchdog timeout" in box.sh("journalctl -u diag-agent --no-pager -o cat").stdout

    def last_stop() -> str | None:
        """The newest last-stop event the flight recorder wrote down (STATE/recorder/timeline.jsonl)."""
        lines = box.sh("cat /var/lib/diag-agent/recorder/timeline.jsonl").stdout.splitlines()
        codes = [json.loads(line)["code"] for line in lines if line.strip()]
        return next((c for c in reversed(codes) if c.startswith("last_stop_")), None)

    # The restarted agent says how the last run ended: systemd's SIGABRT reaches the frozen agent once it is
    # continued (faulthandler: "Aborted", a watchdog), or SIGKILL comes first (a crash); never orderly.
    shown["after_watchdog"] = peers.wait_for(last_stop, 20, "the last stop's event")
    assert shown["after_watchdog"] in ("last_stop_watchdog", "last_stop_crash")

    # A clean stop, well within TimeoutStopSec.
    t0 = time.monotonic()
    assert box.sh("systemctl stop diag-agent").returncode == 0
    shown["stop_s"] = round(time.monotonic() - t0, 2)
    after = box.unit("ActiveState", "Result")
    assert after == {"ActiveState": "inactive", "Result": "success"} and shown["stop_s"] < 5
    assert box.sh("systemctl start diag-agent").returncode == 0
    peers.wait_for(lambda: last_stop() == "last_stop_orderly", 30, "an orderly last stop after systemctl stop")
    box.sh("systemctl stop diag-agent")
    shown["security"] = box.sh("systemd-analyze security diag-agent --no-pager | tail -1").stdout.strip()
    (tmp_path / "systemd-check.json").write_text(json.dumps(shown, indent=1))
