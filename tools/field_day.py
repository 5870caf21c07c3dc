#!/usr/bin/env python3
"""A day in the field, faster than real time: the real poller and fault rules on an injected clock,
against the field corpus' normal behaviours (scripts/field_devices.py), and then each real fault.

    field_day.py [--hours 24]     prints {"false_faults_24h": N, "true_faults_detected": {...}}

Normal life: a car plugged in at 18:00 that rests in state B (charging scheduled by the car) until 01:00,
charges until 04:30 and rests with a full battery until it leaves at 07:30; a two-second voltage dip at
noon; an SDM630 clone without the serial-number register; a busy answer now and then from both devices;
one garbled frame an hour. Every fault raised in that day is a false one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from rigs import peers
from rigs.field_devices import Behaviour, Field, FieldUnit, NormalLife, serve_tcp

POLL_S = 5.0  # the default poll.interval_s
REQUESTS_PER_HOUR = 3600 / POLL_S * 3  # roughly: the meter's fast blocks per hour
# Each real fault, and how long the rules may take to raise it: its hold time plus one poll.
REAL_FAULTS = {
    "lost_phase": ("phase_lost", 10.0),
    "silent_meter_behind_gateway": ("device_unreachable", 15.0),
    "vehicle_state_e": ("vehicle_failure", 10.0),
    "no_current_in_state_c": ("cannot_charge", 300.0),
}


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def rig(work: Path, clock: Clock):
    """The field (meter and EVSE behind one TCP gateway), and the agent's poller and fault rules on CLOCK."""
    from agent import config
    from agent.devices.poller import ModbusPoller
    from agent.watch.faults import FaultMonitor
    from agent.watch.timeline import Timeline

    model = NormalLife(clock, start=0.0)
    meter = Behaviour(
        missing=[("holding", 0xFC00, 0xFC01)], busy_every=997, garble_every=int(REQUESTS_PER_HOUR), behind_gateway=True
    )
    evse = Behaviour(busy_every=1009)
    field = Field([FieldUnit(105, "sdm630", meter, model), FieldUnit(1, "evse_din", evse, model)])
    server = serve_tcp(field)
    (work / "firmware-version").write_text("2.4.1\n")
    path = peers.write_agent_config(
        work / "agent.yaml",
        serial="FIELD-DAY",
        buses=[
            {
                "name": "field",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": server.server_address[1],
                "timeout_s": 0.2,
                "retries": 0,
            }
        ],
        devices=peers.sim_devices("field"),
        backend={},
        poll_interval_s=POLL_S,
    )
    cfg = config.load(path)
    raised: list[tuple[float, str, str]] = []
    monitor = FaultMonitor(
        cfg.faults, Timeline(), clock=clock, on_raise=lambda f: raised.append((clock.now, f.code, f.message))
    )
    poller = ModbusPoller.from_config(cfg, clock=clock)
    return server, model, meter, poller, monitor, raised


def run(poller, monitor, clock: Clock, seconds: float) -> None:
    end = clock.now + seconds
    while clock.now < end:
        clock.now += POLL_S
        poller.poll_once()
        monitor.evaluate(poller.snapshot())


def false_faults(hours: float) -> tuple[int, list]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock(0.0)
        server, _, _, poller, monitor, raised = rig(Path(tmp), clock)
        try:
            run(poller, monitor, clock, hours * 3600)
        finally:
            poller.close()
            server.shutdown()
            server.server_close()
    return len(raised), raised


def true_faults() -> dict[str, bool]:
    """Each real fault injected at 10:00 (the car away) or at 02:00 (charging); raised within its hold time?"""
    found = {}
    for name, (code, within_s) in REAL_FAULTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            clock = Clock(2 * 3600.0 if name == "no_current_in_state_c" else 10 * 3600.0)
            server, model, meter, poller, monitor, raised = rig(Path(tmp), clock)
            try:
                run(poller, monitor, clock, 120)  # settled first
                injected = clock.now
                if name == "lost_phase":
                    model.faults.add("lost_phase")
                elif name == "silent_meter_behind_gateway":
                    meter.silent = True
                elif name == "vehicle_state_e":
                    model.faults.add("vehicle_failure")
                else:
                    model.faults.add("no_current")
                run(poller, monitor, clock, within_s + POLL_S)
                found[name] = any(c == code and t - injected <= within_s + POLL_S for t, c, _ in raised)
            finally:
                poller.close()
                server.shutdown()
                server.server_close()
    return found


def figures(hours: float = 24.0) -> dict:
    import logging

    logging.getLogger("agent").setLevel(logging.ERROR)  # the faults are counted here, not logged
    count, raised = false_faults(hours)
    detected = true_faults()
    key = "false_faults_24h" if hours == 24 else f"false_faults_{hours:g}h"
    return {
        key: count,
        "false_faults_seen": [f"{c}: {m}" for _, c, m in raised][:10],
        "true_faults_detected": f"{sum(detected.values())}/{len(detected)}",
        "true_faults": detected,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0)
    args = ap.parse_args()
    print(json.dumps(figures(args.hours), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
