"""Start and stop the real peers that the demo, the tests and the bench run against.

Each peer is a child process on a free loopback port, with its stderr in a log file, stopped
with SIGTERM (then SIGKILL) so nothing is left behind.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout


class PeerError(Exception):
    """A peer did not start; the message names its log file."""


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll PREDICATE until it returns something true, or raise TimeoutError naming WHAT."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Peer:
    name: str
    proc: subprocess.Popen
    log: Path
    info: dict = field(default_factory=dict)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str, argv: list[str], workdir: Path, ready_line: bool = False, timeout: float = 20.0, env: dict | None = None
) -> Peer:
    """Start ARGV; with READY_LINE, wait for the JSON line it prints on stdout when it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE if ready_line else subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=workdir,
        )
    peer = Peer(name, proc, log)
    if ready_line:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert proc.stdout is not None  # spawned with stdout=PIPE
            readable, _, _ = select.select([proc.stdout], [], [], max(left, 0))
            line = proc.stdout.readline() if readable else b""
            if line:
                peer.info = json.loads(line)
                break
            if proc.poll() is not None or left <= 0:
                peer.stop()
                raise PeerError(f"{name} did not start; its log {log} ends with:\n{peer.log_tail()}")
    return peer


def start_simulator(
    workdir: Path,
    tcp: bool = True,
    rtu: str | None = None,
    python: str = sys.executable,
    devices: list[str] | None = None,
) -> Peer:
    """The simulated wallbox; DEVICES are UNIT:PROFILE pairs (default: SDM630 on 105, EVSE DIN on 1)."""
    argv = [python, "-m", "rigs.wallbox_sim", "serve", "--control", str(workdir / "sim.sock")]
    for device in devices or []:
        argv += ["--device", device]
    if tcp:
        argv += ["--tcp-port", str(free_port())]
    if rtu:
        argv += ["--rtu", rtu]
    peer = spawn("simulator", argv, workdir, ready_line=True)
    if tcp:
        wait_for(lambda: port_open(peer.info["tcp_port"]), 10, "the simulator's Modbus TCP port")
    return peer


def simulator_command(peer: Peer, *words: str) -> dict:
    """Send a control command (fault NAME on|off, hold on|off, state) to a running simulator."""
    from rigs.wallbox_sim import control

    return control(peer.info["control"], " ".join(words))


def start_socat_pair(workdir: Path) -> tuple[Peer, str, str]:
    """A pair of linked pseudo-terminals: the RTU 'wire' between simulator and agent."""
    a, b = workdir / "rtu-sim", workdir / "rtu-agent"
    argv = ["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"]
    peer = spawn("socat", argv, workdir)
    wait_for(lambda: a.exists() and b.exists(), 10, "socat's pty pair")
    return peer, str(a), str(b)


def start_mosquitto(workdir: Path, extra_conf: str = "", port: int | None = None) -> Peer:
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"mosquitto-{port}.conf"
    # As root, mosquitto drops to its own user, which cannot read the test's files; keep the caller's.
    who = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"listener {port} 127.0.0.1\npersistence false\n{who}"
        + ("" if "allow_anonymous" in extra_conf or "password_file" in extra_conf else "allow_anonymous true\n")
        + extra_conf
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    peer = spawn(f"mosquitto-{port}", [binary, "-c", str(conf)], workdir)
    peer.info = {"port": port}
    try:
        wait_for(lambda: port_open(port) or not peer.alive(), 10, "mosquitto to listen")
    except TimeoutError:
        peer.stop()
        raise
    if not peer.alive():
        raise PeerError(f"mosquitto did not start; its log {peer.log} ends with:\n{peer.log_tail()}")
    return peer


def start_amqtt(workdir: Path) -> Peer:
    """amqtt: a broker nobody here wrote that speaks MQTT 3.1.1 only (its own venv: its pins are its own)."""
    venv = Path(os.environ.get("DIAG_AGENT_AMQTT_VENV", ROOT / ".venv-amqtt"))
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"amqtt-{port}.yaml"
    conf.write_text(
        json.dumps(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
    )
    peer = spawn(f"amqtt-{port}", [str(venv / "bin" / "amqtt"), "-c", str(conf)], workdir)
    peer.info = {"port": port}
    wait_for(lambda: port_open(port) or not peer.alive(), 20, "amqtt to listen")
    if not peer.alive():
        raise PeerError(f"amqtt did not start; its log {peer.log} ends with:\n{peer.log_tail()}")
    return peer


def subscriber(broker: Peer, topic: str):
    """A fresh MQTT 5 client on TOPIC; returns it and a queue of the JSON payloads it receives."""
    import queue

    import paho.mqtt.client as mqtt

    got: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.put(json.loads(m.payload))
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", broker.info["port"])
    client.loop_start()
    return client, got


def start_intake(
    workdir: Path,
    cert: str,
    key: str,
    mqtt_port: int | None = None,
    python: str = sys.executable,
    extra: list[str] | None = None,
    env: dict | None = None,
    name: str = "intake",
    wrap: list[str] | None = None,
) -> Peer:
    argv = [
        *(wrap or []),
        python,
        "-m",
        "backend",
        "serve",
        "--store",
        str(workdir / "intake"),
        "--cert",
        cert,
        "--key",
        key,
        "--port",
        "0",
    ]
    if mqtt_port:
        argv += ["--mqtt-host", "127.0.0.1", "--mqtt-port", str(mqtt_port)]
    env = dict(os.environ, DIAG_INTAKE_FLEET_KEY=FLEET_KEY, **(env or {}))
    return spawn(name, argv + (extra or []), workdir, ready_line=True, env=env)


def intake_cases(store: Path) -> list[dict]:
    """The cases of the intake serving STORE (its database), oldest first; none before it started."""
    from backend.stores import open_store

    return open_store(store).cases if (store / "intake.json").exists() else []


def intake_bundle(store: Path, report_id: str) -> Path:
    """Where the intake serving STORE keeps the bundle of REPORT_ID (each bundle once, by its digest)."""
    article = next(a for c in intake_cases(store) for a in c["articles"] if a.get("report_id") == report_id)
    return store / "bundles" / f"{article['sha256']}.tar.gz"


# The rig's fleet key: the intake seals with each box's key derived from it (agent/wire.py), and every
# agent configuration of the rig holds its own box's key.
FLEET_KEY = "rig-fleet-key-not-a-secret-anywhere-else"


def case_key(serial: str) -> str:
    from agent.wire import box_key

    return box_key(FLEET_KEY, serial)


def write_agent_config(
    path: Path,
    *,
    serial: str,
    buses: list[dict],
    devices: list[dict],
    backend: dict,
    mqtt: dict | None = None,
    state_dir: str = "state",
    poll_interval_s: float = 1.0,
    version_file: str | None = None,
    extra: dict | None = None,
) -> Path:
    """An agent configuration for a test or demo rig (YAML is a superset of JSON)."""
    cfg = {
        "device": {
            "model": "WB-22",
            "serial": serial,
            "firmware_version_file": version_file or str(path.parent / "firmware-version"),
            "commissioning_protocol": str(path.parent / "commissioning.pdf"),
            "cloud_credentials_file": str(path.parent / "cloud.json"),
            "firmware_logs": [str(path.parent / "firmware.log")],
        },
        "hooks": {"dir": str(ROOT / "firmware_hooks")},
        # The rig's gateway is not ours to poke: only loopback and our own namespaces are.
        "network": {"check_gateway": False, "dns_timeout_s": 1.0, "connect_timeout_s": 2.0},
        "state_dir": state_dir,
        "profiles_dir": str(ROOT / "config" / "profiles"),
        "buses": buses,
        "devices": devices,
        "poll": {"interval_s": poll_interval_s},
        "backend": backend,
        "mqtt": mqtt or {"enabled": False},
        "outbox": {"startup_jitter_s": 0},  # tests restart agents and want their reports now
        "web": {"port": free_port()},
        **(extra or {}),
    }
    cfg["support"] = {"case_key": case_key(serial), **cfg.get("support", {})}
    path.write_text(json.dumps(cfg, indent=1))
    return path


def sim_devices(bus: str = "sim") -> list[dict]:
    return [
        {"name": "meter", "bus": bus, "profile": "sdm630", "unit": 105},
        {"name": "evse", "bus": bus, "profile": "evse_din", "unit": 1},
    ]


REPORT_DESCRIPTION = "A report made by the test rig; the box itself is fine."
REPORT_EMAIL = "installer@example.com"


def report_fields(subject: str) -> dict:
    """Report request fields that the agent's one validator accepts, SUBJECT at the start of the subject."""
    if len(subject) < 15:
        subject = f"{subject} (test report)"
    return {"subject": subject, "description": REPORT_DESCRIPTION, "email": REPORT_EMAIL}


def report_argv(subject: str) -> list[str]:
    """The same as `diag-agent report` arguments."""
    f = report_fields(subject)
    return ["--subject", f["subject"], "--description", f["description"], "--email", f["email"]]


def agent_argv(python: str = sys.executable) -> list[str]:
    return [python, "-m", "agent"]


def agent_env(**extra) -> dict:
    """The environment `diag-agent` runs in from a checkout."""
    return dict(os.environ, **extra)


def make_certs(folder: Path) -> dict:
    """A throwaway CA (trustme) and a server certificate for 127.0.0.1: {"ca", "cert", "key"} paths."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    return {k: str(v) for k, v in paths.items()}


def start_agent(
    workdir: Path, config: Path, python: str = sys.executable, env: dict | None = None, wrap: list[str] | None = None
) -> Peer:
    """`diag-agent run` as a real process (behind WRAP, e.g. `ip netns exec NS`); ready once its control socket
    answers."""
    argv = (wrap or []) + agent_argv(python) + ["run", "--config", str(config)]
    peer = spawn("agent", argv, workdir, env=agent_env(**(env or {})))
    sock = Path(json.loads(config.read_text()).get("state_dir", "state"))
    sock = (sock if sock.is_absolute() else config.parent / sock) / "control.sock"

    def answers():
        if not peer.alive():
            raise PeerError(f"the agent exited with {peer.proc.returncode}; its log ends with:\n{peer.log_tail()}")
        return sock.exists() and _ping(sock)

    wait_for(answers, 20, "the agent's control socket")
    peer.info = {"control": str(sock)}
    return peer


def _ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b'{"command": "ping"}\n')
            return b'"ok": true' in s.recv(4096)
    except OSError:
        return False
