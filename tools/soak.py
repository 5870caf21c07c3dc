#!/usr/bin/env python3
"""Soak: the real daemon at 1 Hz for a long time, with reports and clock steps, one line of figures a period.

    .venv/bin/python scripts/soak.py --minutes 120 [--period 60] [--report-every 300] [--step-every 600]

The simulator (Modbus TCP) and the reference intake (HTTPS) are real peers. The daemon runs as its own
process, started through a small launcher that moves its wall clock by an offset the soak writes to a file
(read on a thread twice a second; its monotonic clock stays true): NTP steps of +6 h and -1 h, the end of
summer time in Europe/Berlin, and back to the true time, in turn. Each period prints one JSON line: the
daemon's RSS and CPU, how often each of its jobs ran per minute, reports delivered and waiting, and its
active faults. The last line sums it up. `pytest --long tests/test_time.py` runs it for two hours.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rigs import peers

DST_END_2026 = 1792890000.0  # 2026-10-25 01:00 UTC: Berlin's 03:00 becomes 02:00
LAUNCHER = r"""
import sys, threading, time
offset_file, true_time, offset = sys.argv.pop(1), time.time, [0.0]
def follow():
    while True:
        try:
            offset[0] = float(open(offset_file).read() or 0)
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
threading.Thread(target=follow, daemon=True).start()
time.time = lambda: true_time() + offset[0]
from agent.cli import main
sys.exit(main())
"""


def set_offset(path: Path, seconds: float) -> None:
    part = path.with_suffix(".part")
    part.write_text(f"{seconds:.0f}")
    part.replace(path)


def status(config: Path) -> dict:
    out = subprocess.run(
        peers.agent_argv() + ["status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env=peers.agent_env(),
    )
    return json.loads(out.stdout)


def answers(config: Path) -> bool:
    try:
        return bool(status(config).get("jobs"))
    except ValueError:  # not listening yet
        return False


def step_clock(offset: Path, step: float | None) -> None:
    """The daemon's clock stepped by STEP seconds (0.0: back to true time; None: to ten seconds before the end
    of summer time)."""
    if step is None:
        set_offset(offset, DST_END_2026 - 10 - time.time())
    elif step == 0.0:
        set_offset(offset, 0.0)
    else:
        set_offset(offset, float(offset.read_text()) + step)


def start(work: Path) -> tuple:
    """The simulator, the intake and the daemon under a clock offset the soak steps: (sim, intake, config,
    offset file, agent)."""
    certs = peers.make_certs(work / "certs")
    sim = peers.start_simulator(work / "sim")
    intake = peers.start_intake(work / "intake", certs["cert"], certs["key"])
    (work / "firmware-version").write_text("2.4.1\n")
    config = peers.write_agent_config(
        work / "agent.yaml",
        serial="SOAK-1",
        buses=[{"name": "sim", "type": "tcp", "host": "127.0.0.1", "port": sim.info["tcp_port"]}],
        devices=peers.sim_devices(),
        poll_interval_s=1.0,
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        extra={"timezone": "Europe/Berlin", "button": {"enabled": False}},
    )
    offset = work / "offset"
    set_offset(offset, 0)
    agent = peers.spawn(
        "agent",
        [sys.executable, "-c", LAUNCHER, str(offset), "run", "--config", str(config)],
        work,
        env=dict(peers.agent_env(), TZ="Europe/Berlin"),
    )
    return sim, intake, config, offset, agent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--period", type=float, default=60.0, help="seconds between figure lines")
    ap.add_argument("--report-every", type=float, default=300.0)
    ap.add_argument("--step-every", type=float, default=600.0)
    args = ap.parse_args()
    import psutil

    work = Path(tempfile.mkdtemp(prefix="diag-soak-"))
    sim, intake, config, offset, agent = start(work)
    steps = [6 * 3600.0, -3600.0, None, 0.0]  # None: to ten seconds before the end of summer time
    proc = psutil.Process(agent.proc.pid)
    started = last = time.monotonic()
    next_report = started + 10
    next_step = started + args.step_every
    step_i = 0
    before = None
    lines = []
    final = None
    try:
        peers.wait_for(lambda: answers(config), 30, "the soaked daemon")
        before, cpu_before = status(config), proc.cpu_times()
        while time.monotonic() - started < args.minutes * 60:
            now = time.monotonic()
            if now >= next_report:
                subprocess.run(
                    peers.agent_argv() + ["report", "--config", str(config)] + peers.report_argv("soak"),
                    capture_output=True,
                    timeout=120,
                    env=peers.agent_env(),
                )
                next_report += args.report_every
            if now >= next_step:
                step_clock(offset, steps[step_i % len(steps)])
                step_i += 1
                next_step += args.step_every
            if now - last >= args.period:
                s, cpu = status(config), proc.cpu_times()
                minutes = (now - last) / 60
                used = (cpu.user + cpu.system) - (cpu_before.user + cpu_before.system)
                line = {
                    "t_min": round((now - started) / 60, 1),
                    "rss_kb": proc.memory_info().rss // 1024,
                    "cpu_percent": round(100 * used / (now - last), 2),
                    "jobs_per_min": {
                        k: round((v - before["jobs"].get(k, 0)) / minutes, 1) for k, v in s["jobs"].items()
                    },
                    "delivered": s["outbox"]["delivered"],
                    "waiting": s["outbox"]["accepted"] + s["outbox"]["sending"],
                    "faults": sorted(f["code"] for f in s["faults"]),
                    "clock_offset_s": float(offset.read_text()),
                }
                print(json.dumps(line), flush=True)
                lines.append(line)
                before = s
                cpu_before = cpu
                last = now
            time.sleep(0.5)
        # The reports made are delivered before the end is told: a report still on its way is not lost.
        final = peers.wait_for(
            lambda: (f := status(config))["outbox"]["accepted"] + f["outbox"]["sending"] == 0 and f,
            60,
            "the last reports delivered",
        )
    finally:
        agent.stop()
        intake.stop()
        sim.stop()
    if lines:
        polls = [ln["jobs_per_min"].get("poll", 0) for ln in lines]
        print(
            json.dumps(
                {
                    "summary": True,
                    "minutes": round(args.minutes, 1),
                    "rss_kb_first": lines[0]["rss_kb"],
                    "rss_kb_last": lines[-1]["rss_kb"],
                    "rss_kb_max": max(ln["rss_kb"] for ln in lines),
                    "cpu_percent_mean": round(sum(ln["cpu_percent"] for ln in lines) / len(lines), 2),
                    "polls_per_min_min": min(polls),
                    "polls_per_min_max": max(polls),
                    "delivered": final["outbox"]["delivered"],
                    "waiting": final["outbox"]["accepted"] + final["outbox"]["sending"],
                    "clock_steps": step_i,
                    "log_tracebacks": agent.log.read_text().count("Traceback"),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
