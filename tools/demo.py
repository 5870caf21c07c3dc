#!/usr/bin/env python3
"""The main job with no hardware: a simulated wallbox, the reference support intake, a broker, the agent.

Makes one report through the running daemon and shows the case number the intake assigned. With --serve it
keeps everything running instead, with the local page on a printed address and the lost phase injected, and
prints the commands to play support; Ctrl-C stops it all. Run it through scripts/demo.sh, which installs what
it needs first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rigs import peers


def make_ca(folder: Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    ca_key, ca, key, csr, cert = (
        str(folder / n) for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = folder / "server.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run(
        "openssl",
        "req",
        "-x509",
        *ec,
        "-days",
        "2",
        "-subj",
        "/CN=diag-agent demo CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        ca_key,
        "-out",
        ca,
    )
    run("openssl", "req", *ec, "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        cert,
    )
    return ca, cert, key


def start_backend(work: Path, ca: str, cert: str, key: str, broker: peers.Peer, running: list):
    """PostgreSQL in a temporary folder, django-helpdesk on it, and the intake filing into it."""
    from rigs import backend_peers

    pg = backend_peers.start_postgres()
    running.append(pg)
    helpdesk_db, intake_db = pg.create("helpdesk"), pg.create("intake")
    backend_peers.migrate_helpdesk(work / "helpdesk-site", helpdesk_db)
    port = peers.free_port()
    helpdesk = backend_peers.start_helpdesk(work, helpdesk_db, f"https://127.0.0.1:{port}/api/v1/helpdesk/events", ca)
    running.append(helpdesk)
    extra = ["--port", str(port), "--db", intake_db, "--helpdesk", helpdesk.url, "--helpdesk-queue", "wallbox:1"]
    env = {"DIAG_HELPDESK_TOKEN": helpdesk.intake_token}
    intake = peers.start_intake(work, cert, key, mqtt_port=broker.info["port"], extra=extra, env=env)
    running.append(intake)
    return intake, helpdesk


def serve(work: Path, config: Path, sim: peers.Peer, helpdesk) -> int:
    """Keep it all running: the page's address and the commands that play support, until Ctrl-C."""
    import time

    port = json.loads(config.read_text())["web"]["port"]
    peers.wait_for(lambda: peers.port_open(port), 20, "the local page")
    peers.simulator_command(sim, "fault", "lost_phase", "on")
    py, store = sys.executable, work / "intake"
    agent = f"{py} -m agent"
    scripts = peers.ROOT / "scripts"  # the entry points the README names
    cmd = f"DIAG_HELPDESK_TOKEN={helpdesk.support_token} {py} {scripts}/support_intake.py"
    print(
        f"""
The wallbox's local page: http://127.0.0.1:{port}/   (German: http://127.0.0.1:{port}/?lang=de)
Phase L3 is lost on the simulated wallbox; the page says where the fault is.

Support's helpdesk: {helpdesk.url}   (log in as support, password {helpdesk.support_password})
A report from the page becomes a ticket there; a public follow-up reaches the box: plain words are a
message, "Question: ...", "Photo of type plate: ...", "Data logs, history last 2h: ..." ask it.
Or play support from the command line (the case number is on the page once a report is sent):
  {cmd} list --store {store}
  {cmd} ask --store {store} wallbox-1 "Is the RCD switched on?"
  {cmd} request-photo --store {store} wallbox-1 housing "A photo of the housing, please"
  {cmd} request-data --store {store} wallbox-1 --sections logs history --window 2h
  {cmd} solve --store {store} wallbox-1
The wallbox:
  {py} {scripts}/wallbox_sim.py fault --control {work}/sim.sock lost_phase off   (or vehicle_failure on, ...)
  {agent} check --config {config}
Ctrl-C stops everything.""",
        flush=True,
    )
    while True:  # until Ctrl-C (main's handler stops the peers)
        time.sleep(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (bundles, logs, intake store)")
    ap.add_argument("--serve", action="store_true", help="keep the box, the intake and the agent running until Ctrl-C")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="diag-agent-demo-"))
    running: list = []  # what to stop at the end: peers, and the backend's database
    try:
        if args.keep or args.serve:  # a path is printed only while it exists
            print(f"demo folder: {work}")
        sim, helpdesk, config = start_all(work, args.serve, running)
        print(f"agent running (pid {running[-1].proc.pid})" + (f", config {config}" if args.keep or args.serve else ""))
        if args.serve:
            return serve(work, config, sim, helpdesk)
        return one_report(work, config, sim, args.keep)
    except KeyboardInterrupt:
        print("\nstopping: the agent, the intake, the helpdesk, the simulated wallbox and the broker")
        return 0
    except (peers.PeerError, TimeoutError, subprocess.CalledProcessError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for peer in reversed(running):
            peer.stop()
        if args.keep:
            print(f"\nkept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def start_all(work: Path, serve: bool, running: list) -> tuple[peers.Peer, object, Path]:
    """The broker, the simulated wallbox, support's side and the agent (each added to RUNNING as it starts):
    (the simulator, the helpdesk or None, the agent's configuration)."""
    ca, cert, key = make_ca(work)
    broker = peers.start_mosquitto(work)
    running.append(broker)
    sim = peers.start_simulator(work)
    running.append(sim)
    print(f"simulated wallbox: Modbus TCP on 127.0.0.1:{sim.info['tcp_port']} (SDM630 meter unit 105, EVSE DIN unit 1)")
    helpdesk = None
    if serve:  # support works in the helpdesk: django-helpdesk and the intake on PostgreSQL
        intake, helpdesk = start_backend(work, ca, cert, key, broker, running)
    else:  # the plain demo: the intake on its own, its cases in SQLite in its store
        intake = peers.start_intake(work, cert, key, mqtt_port=broker.info["port"])
        running.append(intake)
    print(f"support intake: {intake.info['url']} (MQTT broker on port {broker.info['port']})")
    # The box's own files, as the firmware would leave them.
    (work / "firmware-version").write_text("2.4.1 stable\n")
    (work / "commissioning.pdf").write_bytes(b"%PDF-1.4 commissioning protocol of the demo box\n")
    (work / "firmware.log").write_text(
        "".join(f"2026-11-25 07:{m:02d}:00 controller: state C, 16 A offered\n" for m in range(60))
    )
    config = peers.write_agent_config(
        work / "agent.yaml",
        serial="DEMO-000123",
        buses=[{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": sim.info["tcp_port"]}],
        devices=peers.sim_devices(),
        backend={"url": intake.info["url"], "ca_file": ca},
        mqtt={"enabled": True, "port": broker.info["port"]},
        extra={"faults": {"raise_after_s": 2, "clear_after_s": 10}},
    )
    running.append(peers.start_agent(work, config))
    return sim, helpdesk, config


def agent_cmd(config: Path, *words: str) -> subprocess.CompletedProcess:
    return subprocess.run(peers.agent_argv() + list(words) + ["--config", str(config)], capture_output=True, text=True)


def one_report(work: Path, config: Path, sim: peers.Peer, keep: bool) -> int:
    """A lost phase, the status that shows it, a report and its case; support asks and the box answers."""
    print("simulator: phase L3 lost (fault injected)")
    peers.simulator_command(sim, "fault", "lost_phase", "on")
    peers.wait_for(lambda: "phase_lost" in agent_cmd(config, "status", "--json").stdout, 30, "the phase_lost fault")
    print("\n$ diag-agent status")
    print(agent_cmd(config, "status").stdout.rstrip())
    print("\n$ diag-agent report --subject 'Charging stops after a minute' ...")
    result = agent_cmd(
        config,
        "report",
        "--subject",
        "Charging stops after a minute",
        "--description",
        "Demo report: the car stops charging after about a minute.",
        "--email",
        "installer@example.com",
    )
    print(result.stdout.strip() or result.stderr.strip())
    print("\n$ support_intake.py list")
    subprocess.run([sys.executable, "-m", "backend", "list", "--store", str(work / "intake")], check=True)
    case = next((w for w in result.stdout.split() if w.startswith("CASE-")), None)
    if case:
        conversation(work, config, case)
    report_id = result.stdout.split()[1] if result.stdout.startswith("report ") else ""
    if keep:
        inspect(work, report_id)
    else:
        print("\n(run with --keep to keep the bundles, report.html and the logs; --serve to play with the page)")
    return result.returncode


def conversation(work: Path, config: Path, case: str) -> None:
    """The case conversation: support asks, the box shows it, the installer answers."""
    intake_cmd = [sys.executable, "-m", "backend"]
    store = str(work / "intake")
    question_text = "Is the RCD in the distribution board switched on?"
    print(f"\n$ support_intake.py ask {case} '{question_text}'")
    subprocess.run(intake_cmd + ["ask", "--store", store, case, question_text], check=True)
    peers.wait_for(lambda: "support asks" in agent_cmd(config, "cases").stdout, 15, "the question on the box")
    print("\n$ diag-agent cases")
    print(agent_cmd(config, "cases").stdout.rstrip())
    question = json.loads(agent_cmd(config, "cases", "--json").stdout)["open_questions"][0]["id"]
    print(f"\n$ diag-agent answer {case} {question} 'Yes, and it does not trip.'")
    print(agent_cmd(config, "answer", case, question, "Yes, and it does not trip.").stdout.rstrip())

    def shown() -> str:
        return subprocess.run(intake_cmd + ["show", "--store", store, case], capture_output=True, text=True).stdout

    peers.wait_for(lambda: "answer " in shown(), 15, "the answer in the case")
    print(f"\n$ support_intake.py show {case}")
    subprocess.run(intake_cmd + ["show", "--store", store, case], check=True)


def inspect(work: Path, report_id: str) -> None:
    """report.html of the report as support received it (the intake keeps each bundle once, by its digest)."""
    bundles = [
        work / "intake" / "bundles" / f"{a['sha256']}.tar.gz"
        for c in peers.intake_cases(work / "intake")
        for a in c["articles"]
        if a.get("report_id") == report_id
    ]
    if bundles:
        print(f"\n$ diag-agent inspect {bundles[-1].name} --html {work / 'report.html'}")
        subprocess.run(peers.agent_argv() + ["inspect", str(bundles[-1]), "--html", str(work / "report.html")])


if __name__ == "__main__":
    sys.exit(main())
