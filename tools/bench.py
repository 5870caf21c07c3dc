#!/usr/bin/env python3
"""Measure diag-agent's figures against the real peers on loopback and print them.

    scripts/bench.py --json [--quick]

report_e2e_s      median of 5: a report request on the daemon's control socket to the case number
                  coming back from the HTTPS intake (collect, bundle, spool with fsync, upload, receipt)
collect_all_s     median of 5: every report section collected once (a Modbus poll of every device, the
                  firmware hooks, system, network, software, the self-check)
report_build_s    median of 5: building a report with 24 h of history at 1 Hz (slow values every 12th
                  cycle) from the simulator's model: sections, redaction, summary, report.html,
                  tar.gz, spooled with fsync (health collected beforehand)
report_bytes      its compressed size
history_json_bytes, history_{gzip,xz}_{bytes,cpu_s,peak_kb}  that report's history.json through gzip (the
                  bundle's level 6) and xz (the member's LZMA2 preset 6, 256 KiB dictionary): size, CPU
                  seconds (median of 5) and the memory the compressor takes
report_build_peak_rss_kb  the peak resident memory of a process holding that history and building
                  (report_build_steady_rss_kb before the builds; report_build_peak_over_steady_kb)
outbox_reports_per_s  50 reports spooled into the outbox (fsync, rename) and then delivered over
                  HTTPS on loopback, one at a time, divided by the time it all took
page_first_paint_s  median of 5: headless Chromium at 390 px, the page requested to the box's state shown on it
page_report_to_case_s  median of 5: "Send" tapped on the page to the case number on it
button_to_case_s  median of 5: a long press of the button (gpiozero mock pin, hold time 0.5 s, included)
                  to the case number from the HTTPS intake
agent_rss_kb      the daemon's resident memory after polling the simulator (SDM630 + EVSE) at 1 Hz for
                  agent_rss_window_s seconds (30 s; 10 s with --quick), MQTT connected, the page on
agent_cpu_percent_1hz  its CPU time over the second half of that window, in per cent of one core
agent_rss_after_first_report_kb, agent_rss_after_100_reports_kb  the same daemon after its first and its
                  100th report (each delivered to the HTTPS intake); 20 with --quick
state_bytes_per_day  what the daemon writes into its state folder in a day of steady 1 Hz polling without
                  faults or reports: the writes in a window of agent_rss_window_s (strace, every write to a
                  file under the state folder) scaled to a day, plus the flight recorder's hourly history
                  checkpoint at its size for 24 h of 1 Hz history (state_checkpoint_bytes)
recorder_window_after_restart  true when a report after a kill -9 shows the fault window recorded before it
false_faults_24h  faults raised in 24 simulated hours of normal field life (scripts/field_day.py: the real poller
                  and fault rules on an injected clock against the field corpus); the target is 0. With
                  --quick, false_faults_2h
true_faults_detected  of the real faults injected (lost phase, silent meter behind a gateway, vehicle state E,
                  no current in state C), how many were raised within their hold time
report_to_ticket_s, staff_question_to_box_s, data_request_to_followup_s, intake_reports_per_s
                  support's side in django-helpdesk on PostgreSQL: see scripts/bench_helpdesk.py
deb_install_s, deb_build_s, deb_bytes, deb_installed_kb
                  the Debian package (amd64): see scripts/bench_deb.py
modbus_*          requests and bus time per full poll cycle (every fast and slow value of the SDM630
                  full profile + EVSE DIN), planned block reads against one request per value,
                  computed from the frames' bytes and silences at 9600 baud
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rigs import peers


def BENCH_REQUEST(subject: str):
    """A report request as the CLI would make it."""
    from agent.request import check_request

    return check_request(peers.report_fields(subject), "cli")


def modbus_figures() -> dict:
    """A full cycle reads every periodic value (fast and slow); "once" values are read at start only."""
    from agent.devices.planner import ReadRequest, bus_ms, plan_reads
    from agent.devices.profiles import load_profile

    planned = []
    naive = []
    once = []
    for name in ("sdm630", "evse_din"):
        profile = load_profile(peers.ROOT / "config" / "profiles", name)
        periodic = [n for n, s in profile.values.items() if s.poll != "once"]
        planned += plan_reads(profile, periodic)
        once += plan_reads(profile, [n for n in profile.values if n not in periodic])
        naive += [
            ReadRequest(profile.values[n].function, profile.values[n].address, profile.values[n].words, [n])
            for n in periodic
        ]
    return {
        "modbus_requests_per_cycle": len(planned),
        "modbus_naive_requests_per_cycle": len(naive),
        "modbus_bus_ms_per_cycle_9600": round(bus_ms(planned), 1),
        "modbus_naive_bus_ms_per_cycle_9600": round(bus_ms(naive), 1),
        "modbus_once_requests_at_start": len(once),
    }


def collect_all(config_path: Path, runs: int = 5) -> list[float]:
    """Every report section once: a Modbus poll of every device, hooks, system, network, software, checks."""
    from agent.collect import Box
    from agent.config import load
    from agent.devices.poller import ModbusPoller
    from agent.health import collect_health, release_cache
    from agent.report.build import collect_sections
    from agent.watch.checks import judged

    cfg = load(config_path)
    cfg.state_dir = str(config_path.parent / "bench-state")
    Path(cfg.state_dir).mkdir(exist_ok=True)
    cache = release_cache(cfg)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        poller = ModbusPoller.from_config(cfg)
        try:
            poller.poll_once()
            collect_sections(cfg, judged(cfg, Box(poller.snapshot(), collect_health(cfg, cache))))
        finally:
            poller.close()
        times.append(time.perf_counter() - t0)
    return times


def fill_history(history, hours: float, interval_s: float = 5.0, slow_every: int = 12) -> dict:
    """24 h of polling at the default rates, from the simulator's physical model on a fake clock."""
    from agent.devices.profiles import load_profile
    from rigs import wallbox_sim

    class FakeTime:
        now = 1000.0

        @staticmethod
        def monotonic():
            return FakeTime.now

    wallbox_sim.time = FakeTime  # type: ignore[assignment]  # the simulator's clock, on the bench's hand
    box = wallbox_sim.Wallbox()
    profiles = {
        "meter": load_profile(peers.ROOT / "config/profiles", "sdm630"),
        "evse": load_profile(peers.ROOT / "config/profiles", "evse_din"),
    }
    codes: dict[str, int] = {letter: raw for raw, letter in profiles["evse"].vehicle_states.items()}
    wall0 = time.time() - hours * 3600 - 1000
    for step in range(int(hours * 3600 / interval_s)):
        FakeTime.now += interval_s
        box.update()
        for device, profile in profiles.items():
            for name, spec in profile.values.items():
                if spec.poll == "once" or (spec.poll == "slow" and step % slow_every):
                    continue
                value = box.values.get(name, 0)
                value = codes.get(str(value), 5) if name == "vehicle_state" else value
                period = interval_s * (slow_every if spec.poll == "slow" else 1)
                history.add(device, name, value, FakeTime.now, wall0 + FakeTime.now, period)
    return {(d, n): s.unit for d, p in profiles.items() for n, s in p.values.items()}


def outbox_throughput(config_path: Path, n: int = 50) -> float:
    """Reports per second through the outbox: each spooled (fsync, rename) and delivered over HTTPS."""
    from agent.collect import Box
    from agent.config import load
    from agent.health import collect_health, release_cache
    from agent.outbox import Outbox
    from agent.report.build import make_report
    from agent.transports.https import HttpsTransport
    from agent.transports.sender import Sender
    from agent.watch.checks import judged

    cfg = load(config_path)
    cfg.state_dir = str(config_path.parent / "outbox-bench-state")
    Path(cfg.state_dir).mkdir(exist_ok=True)
    box = judged(cfg, Box({}, collect_health(cfg, release_cache(cfg))))
    outbox = Outbox(Path(cfg.state_dir) / "outbox")
    sender = Sender(cfg.backend, outbox, [HttpsTransport(cfg.backend, cfg.device.identity)])
    t0 = time.perf_counter()
    for i in range(n):
        make_report(cfg, BENCH_REQUEST(f"throughput {i}"), box, outbox)
    delivered = sender.drain()
    elapsed = time.perf_counter() - t0
    if delivered != n:
        raise RuntimeError(f"only {delivered} of {n} reports were delivered")
    return round(n / elapsed, 1)


def button_to_case(work: Path, sim_port: int, intake_url: str, ca: str, runs: int = 5) -> list[float]:
    """An in-process daemon with gpiozero's mock pins: press and hold (0.5 s) to the case at the intake."""
    import threading

    from gpiozero.pins.mock import MockFactory

    from agent.config import load
    from agent.service.daemon import Daemon

    folder = work / "button"
    folder.mkdir()
    (folder / "firmware-version").write_text("2.4.1\n")
    path = peers.write_agent_config(
        folder / "agent.yaml",
        serial="BENCH-BUTTON",
        state_dir=str(folder / "state"),
        buses=[{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": sim_port}],
        devices=peers.sim_devices(),
        backend={"url": intake_url, "ca_file": ca},
        extra={"button": {"pin": 17, "led_pin": 27, "long_press_s": 0.5, "bounce_s": 0}},
    )
    factory = MockFactory()
    daemon = Daemon(load(path), pin_factory=factory)
    thread = threading.Thread(target=daemon.run, kwargs={"handle_signals": False}, daemon=True)
    thread.start()
    times = []
    try:
        peers.wait_for(lambda: daemon.button is not None and daemon.health.latest is not None, 30, "the daemon")
        button, pin = daemon.button, factory.pin(17)
        assert button is not None and button.panel.led is not None
        led = button.panel.led
        for _ in range(runs):
            before = {e.report_id for e in daemon.outbox.entries()}
            t0 = time.perf_counter()
            pin.drive_low()
            peers.wait_for(lambda: button.panel._held, 5, "the long press", interval=0.005)
            pin.drive_high()

            def case():
                new = [e for e in daemon.outbox.entries() if e.report_id not in before]
                return new and new[0].delivered

            peers.wait_for(case, 30, "the button's case", interval=0.005)
            times.append(time.perf_counter() - t0)
            peers.wait_for(lambda: not led.is_active or daemon.onsite.active, 10, "the LED at rest")
    finally:
        daemon.stop_event.set()
        thread.join(10)
    return times


def question_to_page(store: Path, page_url: str, case: str, runs: int = 5) -> tuple[list[float], list[float]]:
    """Support asks a question at the intake: seconds until the box's page API has it, and until headless
    Chromium at phone width shows it on the page (which refreshes every 3 s)."""
    import requests
    from playwright.sync_api import sync_playwright

    to_box, to_page = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(page_url)
        for i in range(runs):
            text = f"Bench question {i}: is the RCD in the distribution board on?"
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "backend", "ask", "--store", str(store), case, text],
                check=True,
                capture_output=True,
                timeout=30,
            )
            peers.wait_for(
                lambda: any(
                    q["text"] == text for q in requests.get(f"{page_url}api/cases", timeout=5).json()["open_questions"]
                ),
                30,
                "the question on the box",
                0.01,
            )
            to_box.append(time.perf_counter() - t0)
            page.wait_for_selector(f"#questions:has-text('Bench question {i}:')", timeout=30_000)
            to_page.append(time.perf_counter() - t0)
        browser.close()
    return to_box, to_page


def ocpp_request_to_uploaded(work: Path, config: Path, certs: dict, runs: int = 5) -> list[float]:
    """A CSMS's GetLog (OCPP 2.0.1, the ocpp package over a websocket, our glue in the charge point) until the
    CSMS hears Uploaded: the report built by the running agent and uploaded to a local FTPS server."""
    import asyncio

    from ocpp.v201 import call

    from rigs.ocpp_peer import exchange

    ftp = peers.spawn(
        "ftp",
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "ftp_target.py"),
            "--root",
            str(work),
            "--cert",
            certs["cert"],
            "--key",
            certs["key"],
        ],
        work / "ftp",
        ready_line=True,
    )
    argv = peers.agent_argv() + ["ocpp-log", "--config", str(config)]
    location = f"ftps://csms:upload-secret@127.0.0.1:{ftp.info['port']}/"
    times = []
    try:
        for i in range(runs):
            t0 = time.perf_counter()
            answer, notified = asyncio.run(
                exchange(
                    "2.0.1",
                    argv,
                    lambda csms, i=i: csms.call(
                        call.GetLog(log={"remote_location": location}, log_type="DiagnosticsLog", request_id=i)
                    ),
                )
            )
            if notified[-1]["status"] != "Uploaded":
                raise RuntimeError(f"OCPP GetLog {i}: {answer}, {notified}")
            times.append(time.perf_counter() - t0)
    finally:
        ftp.stop()
    return times


def report_child(config_path: str) -> None:
    """In a process of its own, so its memory is the build's: hold 24 h of history at 1 Hz (the fast values;
    slow ones every 12th cycle), then build 5 reports; the peak is taken from the steady size before them."""
    import io

    from agent.collect import Box
    from agent.config import load
    from agent.devices.history import History
    from agent.devices.poller import ModbusPoller
    from agent.health import collect_health, release_cache
    from agent.outbox import Outbox
    from agent.recorder.flight import write_checkpoint
    from agent.report.build import make_report
    from agent.service.memory import give_back, settle
    from agent.watch.checks import judged

    settle()
    cfg = load(config_path)
    cfg.state_dir = str(Path(config_path).parent / "report-bench-state")
    Path(cfg.state_dir).mkdir(exist_ok=True)
    history = History()
    history.units = fill_history(history, 24, interval_s=1.0)
    poller = ModbusPoller.from_config(cfg)
    poller.poll_once()
    readings = poller.snapshot()
    poller.close()
    health = collect_health(cfg, release_cache(cfg))
    outbox = Outbox(Path(cfg.state_dir) / "outbox")
    checkpoint = io.BytesIO()
    write_checkpoint(checkpoint, history.freeze(), time.time(), "bench")
    give_back()
    status = lambda key: int(
        next(
            line.split()[1]
            for line in Path("/proc/self/status").read_text().splitlines()  # noqa: E731
            if line.startswith(key + ":")
        )
    )
    steady = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak counts from here
    times, sizes = [], []
    for i in range(5):
        t0 = time.perf_counter()
        box = judged(cfg, Box(readings, health, history=history.freeze()))
        entry = make_report(cfg, BENCH_REQUEST(f"bench {i}"), box, outbox)
        times.append(time.perf_counter() - t0)
        sizes.append(entry.size)
        give_back()  # as the daemon's desk does after each report
    peak = status("VmHWM")
    codecs = history_codecs(history.freeze(), status)
    print(
        json.dumps(
            {
                **codecs,
                "report_build_s": round(statistics.median(times), 4),
                "report_bytes": sizes[-1],
                "report_build_steady_rss_kb": steady,
                "report_build_peak_rss_kb": peak,
                "report_build_peak_over_steady_kb": peak - steady,
                "state_checkpoint_bytes": len(checkpoint.getvalue()),
            }
        )
    )


def history_codecs(frozen, status) -> dict:
    """The day's history.json through gzip (the bundle's level) and through xz (the member's settings): bytes,
    CPU seconds (median of 5) and the memory each compressor takes (the peak over the resident size before)."""
    import gzip
    import io
    import lzma

    from agent.report.bundle import GZIP_LEVEL, XZ_DICT_BYTES, XZ_PRESET

    raw = io.BytesIO()
    frozen.write_json(raw)
    data = raw.getvalue()
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": XZ_PRESET, "dict_size": XZ_DICT_BYTES}
    codecs = {
        "gzip": lambda: gzip.compress(data, GZIP_LEVEL),
        "xz": lambda: lzma.compress(data, format=lzma.FORMAT_XZ, filters=[lzma2]),
    }
    out: dict[str, float] = {"history_json_bytes": len(data)}
    for name, compress in codecs.items():
        times = []
        for _ in range(5):
            before = status("VmRSS")
            Path("/proc/self/clear_refs").write_text("5")
            t0 = time.process_time()
            packed = compress()
            times.append(time.process_time() - t0)
            peak = status("VmHWM") - before
        out[f"history_{name}_bytes"] = len(packed)
        out[f"history_{name}_cpu_s"] = round(statistics.median(times), 4)
        out[f"history_{name}_peak_kb"] = peak
    return out


def report_figures(config_path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--report-child", str(config_path)], capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(f"report bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def state_writes(pid: int, state: Path, seconds: float) -> int:
    """Bytes PID writes to files under STATE within SECONDS, counted by strace from the system calls."""
    import re

    log = state.parent / "strace.log"
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-y", "-e", "trace=write,pwrite64,writev,pwritev", "-o", str(log), "-p", str(pid)],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    tracer.terminate()
    tracer.wait(10)
    total, inside = 0, re.compile(r"^\d+\s+\w+\(\d+<(?P<path>[^>]*)>.*\)\s+=\s+(?P<n>\d+)$")
    for line in log.read_text(errors="replace").splitlines():
        m = inside.match(line)
        if m and m["path"].startswith(str(state.resolve())):
            total += int(m["n"])
    return total


def recorder_after_kill(work: Path, config: Path, agent) -> dict:
    """A firmware fault, its window on disk, kill -9, a new start: does the report show the window?"""
    from agent.channels import control
    from agent.devices.history import decode_raw
    from agent.report.bundle import read_bundle

    control.call(agent.info["control"], "event", {"type": "fault", "code": "bench_kill", "message": "bench"})
    index = work / "state" / "recorder" / "windows" / "index.json"
    entry = peers.wait_for(
        lambda: index.exists() and next((e for e in json.loads(index.read_text()) if e["code"] == "bench_kill"), None),
        20,
        "the fault window",
    )
    agent.proc.kill()
    agent.proc.wait()
    again = peers.start_agent(work, config)
    out = work / "after-kill.tar.gz"
    subprocess.run(
        peers.agent_argv() + ["report", *peers.report_argv("after kill"), "--out", str(out), "--config", str(config)],
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    members = read_bundle(out.read_bytes())[1]
    windows = json.loads(members["recorder.json"])["windows"]
    mine = next((w for w in windows if w["code"] == "bench_kill" and w["earlier_run"]), None)
    shown = (
        mine is not None
        and decode_raw(json.loads(members[mine["member"]])["series"]["meter"]["voltage_l1"]["raw"])[0][0]
        < entry["raised"]
    )
    return {"shown": shown, "agent": again}


def page_figures(page_url: str, runs: int = 5) -> tuple[list[float], list[float]]:
    """Headless Chromium on the local page at phone width: seconds from the page request to the box's state shown
    (words, status, the judged look), and from "Send" to the case number on the page."""
    from playwright.sync_api import sync_playwright

    paint, to_case = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 390, "height": 844})
            t0 = time.perf_counter()
            page.goto(page_url, wait_until="commit")
            page.wait_for_selector("#box-name:has-text('serial')", timeout=30_000)  # the page's CSP forbids eval
            paint.append(time.perf_counter() - t0)
            page.close()
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(page_url)
        page.wait_for_selector("#box-name:has-text('serial')", timeout=30_000)  # the page's CSP forbids eval
        for i in range(runs):
            page.fill("#subject", f"Bench page report {i}")
            page.fill("#description", "A report sent from the page by the bench, to time it.")
            page.fill("#email", "bench@example.com")
            t0 = time.perf_counter()
            page.click("#send")
            page.wait_for_selector("#case:has-text('CASE-')", timeout=60_000)
            to_case.append(time.perf_counter() - t0)
            page.click("#another")
        browser.close()
    return paint, to_case


def rig_figures(work: Path, rss_window_s: float, reports: int = 100) -> dict:
    import psutil

    from agent.channels import control

    certs = peers.make_certs(work)
    running = []
    try:
        broker = peers.start_mosquitto(work)
        running.append(broker)
        sim = peers.start_simulator(work)
        running.append(sim)
        intake = peers.start_intake(work, certs["cert"], certs["key"], mqtt_port=broker.info["port"])
        running.append(intake)
        (work / "firmware-version").write_text("2.4.1\n")
        config = peers.write_agent_config(
            work / "agent.yaml",
            serial="BENCH-0001",
            buses=[{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": sim.info["tcp_port"]}],
            devices=peers.sim_devices(),
            backend={"url": intake.info["url"], "ca_file": certs["ca"]},
            mqtt={"enabled": True, "port": broker.info["port"]},
            poll_interval_s=1.0,
            extra={"web": {"port": peers.free_port(), "reports_per_hour": 120}},  # the bench sends many
        )
        agent = peers.start_agent(work, config)
        running.append(agent)
        proc = psutil.Process(agent.proc.pid)

        # The steady daemon: memory after the window at 1 Hz; CPU and state writes over its second half.
        half = rss_window_s / 2
        time.sleep(half)
        cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
        written = state_writes(agent.proc.pid, work / "state", half)
        cpu_percent = round(100 * (sum(proc.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0), 2)
        status = control.call(agent.info["control"], "status")
        rss_kb = proc.memory_info().rss // 1024

        times, after = [], []
        for i in range(reports):
            t0 = time.perf_counter()
            answer = control.call(
                agent.info["control"], "report", dict(peers.report_fields(f"bench {i}"), wait_s=30), timeout=60
            )
            times.append(time.perf_counter() - t0)
            if not (answer.get("receipt") or {}).get("case"):
                raise RuntimeError(f"report {i} got no case: {answer}")
            after.append(proc.memory_info().rss // 1024)
        collect_times = collect_all(config)
        report = report_figures(config)
        throughput = outbox_throughput(config)
        button = button_to_case(work, sim.info["tcp_port"], intake.info["url"], certs["ca"])
        web = json.loads(config.read_text())["web"]["port"]
        to_box, to_page = question_to_page(work / "intake", f"http://127.0.0.1:{web}/", answer["receipt"]["case"])
        paint, page_to_case = page_figures(f"http://127.0.0.1:{web}/")
        ocpp = ocpp_request_to_uploaded(work / "ocpp", config, certs)
        window_after_restart = recorder_after_kill(work, config, agent)
        running.append(window_after_restart.pop("agent"))
        from tools import bench_helpdesk  # support's side: django-helpdesk on PostgreSQL

        desk = bench_helpdesk.figures(work, certs, sim.info["tcp_port"], broker)
        per_day = round(written * 86400 / half + report["state_checkpoint_bytes"] * 86400 / 3600)
        return {
            "report_e2e_s": round(statistics.median(times[:5]), 4),
            "collect_all_s": round(statistics.median(collect_times), 4),
            **report,
            "outbox_reports_per_s": throughput,
            "button_to_case_s": round(statistics.median(button), 4),
            "page_first_paint_s": round(statistics.median(paint), 4),
            "page_report_to_case_s": round(statistics.median(page_to_case), 4),
            "question_to_box_s": round(statistics.median(to_box), 4),
            "question_to_page_s": round(statistics.median(to_page), 4),
            "ocpp_request_to_uploaded_s": round(statistics.median(ocpp), 4),
            "agent_rss_kb": rss_kb,
            "agent_rss_window_s": rss_window_s,
            "agent_rss_mqtt_connected": status["mqtt_connected"],
            "agent_cpu_percent_1hz": cpu_percent,
            "agent_rss_after_first_report_kb": after[0],
            f"agent_rss_after_{reports}_reports_kb": after[-1],
            "state_bytes_per_day": per_day,
            "state_bytes_in_window": written,
            "recorder_window_after_restart": window_after_restart["shown"],
            **desk,
        }
    finally:
        for peer in reversed(running):
            peer.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object (the default prints lines)")
    ap.add_argument("--quick", action="store_true", help="shorter windows; finishes within 45 s")
    ap.add_argument("--report-child", help=argparse.SUPPRESS)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, the bench's reports)")
    args = ap.parse_args()
    if args.report_child:
        report_child(args.report_child)
        return 0
    from tools import bench_deb, field_day

    figures = modbus_figures()
    figures.update(bench_deb.figures())
    figures.update(field_day.figures(2.0 if args.quick else 24.0))
    work = Path(tempfile.mkdtemp(prefix="diag-agent-bench-"))
    try:
        figures.update(rig_figures(work, rss_window_s=10.0 if args.quick else 30.0, reports=20 if args.quick else 100))
    finally:
        if args.keep:
            print(f"kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        for key, value in figures.items():
            print(f"{key:<40} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
