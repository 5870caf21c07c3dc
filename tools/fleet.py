#!/usr/bin/env python3
"""A fleet's share of one backend: N boxes, the backend down for OUTAGE_S while every box makes a report, and
what happens when it comes back. Not in CI (minutes); the tests run the simulated mode small.

    scripts/fleet.py N OUTAGE_S [--seed S] [--mix urgent=0.1,medium=0.3,low=0.6] [--procs P] [--json]
    scripts/fleet.py N OUTAGE_S --real [--workers W] ...     (real agents: scripts/fleet_real.py)
    scripts/fleet.py 1 0 --budget-days D [--day-bytes B]     (one box's data budget: scripts/budget_run.py)

Simulated boxes (the default, for thousands): each box is the agent's own Outbox on disk and its own Sender
(agent/transports/sender.py, the backoff of agent/retry.py), driven on a virtual clock by one event loop per
process; only the wire is a stand-in (a transport that reaches a backend which is down, then up and keeps a
ledger of what it was sent). Nothing of the policy is written again here: what is measured is the agent's code.

Figures, per priority (urgent = on-site or high, medium, low): time from the backend's return to the delivery
(p50, p90, max); the largest share of the fleet delivering in one second, and contacting the backend in one
second after its return; lost (made, never delivered within an hour after the return) and duplicated
(delivered again after a receipt); the bytes sent (bodies, plus an HTTP exchange's overhead per contact).
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from agent.config.sections import BackendConfig
from agent.outbox import Entry, Outbox, urgency
from agent.report.bundle import Section, write_bundle
from agent.transports.base import DeliveryError, Receipt
from agent.transports.sender import Sender
from tools.stats import percentile

HTTP_OVERHEAD = 900  # bytes of a TLS-resumed HTTPS exchange beyond the body: headers both ways, the receipt
SETTLE_S = 3600.0  # after the backend's return, how long the run waits for the last report
DEFAULT_MIX = {"urgent": 0.1, "medium": 0.3, "low": 0.6}


class VirtualClock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """Down from DOWN_FROM to UP_AT; a ledger of each report it took, the contacts per second, the bytes."""

    clock: VirtualClock
    down_from: float
    up_at: float
    taken: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    contacts: Counter = field(default_factory=Counter)  # second -> contacts that reached it
    refused: Counter = field(default_factory=Counter)  # second -> tries while it was down
    bytes_sent: int = 0

    def take(self, report_id: str, size: int) -> Receipt:
        now = self.clock()
        if self.down_from <= now < self.up_at:
            self.refused[int(now)] += 1
            raise DeliveryError("cannot connect to the backend: Connection refused")
        self.contacts[int(now)] += 1
        self.bytes_sent += size + HTTP_OVERHEAD
        if report_id in self.taken:
            self.duplicates += 1
        else:
            self.taken[report_id] = now
        return Receipt(report_id, "CASE-" + report_id[-8:], "low")


class Wire:
    """A Transport of the agent's kind, whose wire ends at the simulated backend."""

    name = "https"

    def __init__(self, backend: Backend):
        self.backend = backend

    def ready(self) -> bool:
        return True

    def send(self, report_id: str, bundle: Path) -> Receipt:
        return self.backend.take(report_id, bundle.stat().st_size)


def priority_of(share: float, mix: dict[str, float]) -> tuple[str, bool]:
    """(priority, on_site) for a box whose draw is SHARE in [0, 1)."""
    if share < mix["urgent"]:
        return "high", True
    return ("medium", False) if share < mix["urgent"] + mix["medium"] else ("low", False)


def simulate(boxes: range, outage_s: float, mix: dict[str, float], seed: int, folder: Path) -> dict:
    """Boxes BOXES of a fleet (their numbers fix their draws, so a fleet split over processes is the same
    fleet): the backend goes down at t0, each box makes one report at a random moment of the outage's first
    half, the backend is back after OUTAGE_S. Returns the raw ledger for merge()."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)  # every box's "not delivered (attempt n)", thousands of times
    try:
        return _simulate(boxes, outage_s, mix, seed, folder)
    finally:
        logging.disable(before)  # the process's logging as it was (the tests go on logging)


def _simulate(boxes: range, outage_s: float, mix: dict[str, float], seed: int, folder: Path) -> dict:
    t0 = 1.8e9
    clock = VirtualClock(t0 - 60)
    backend = Backend(clock, down_from=t0, up_at=t0 + outage_s)
    cfg = BackendConfig(url="https://backend.invalid/api/v1/reports")
    senders = {}
    made = {}
    kinds = {}
    events: list[tuple[float, int, str]] = []
    for i in boxes:
        draw = random.Random(f"{seed}-{i}")
        outbox = Outbox(folder / f"box{i:05d}", clock=clock)
        senders[i] = Sender(cfg, outbox, [Wire(backend)], clock=clock, rng=draw.random)
        heapq.heappush(events, (t0 + draw.uniform(0, outage_s / 2), i, "report"))
        kinds[i] = priority_of(draw.random(), mix)
    end = backend.up_at + SETTLE_S
    while events:
        at, i, what = heapq.heappop(events)
        if at > end:
            break
        clock.now = at
        sender = senders[i]
        if what == "report":
            priority, on_site = kinds[i]
            rid = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(at))}-{i:08x}"
            entry = Entry(rid, priority, on_site, at)
            manifest = {"report_id": rid, "priority": priority, "created": {"wall": at}}
            sender.outbox.spool(entry, lambda f: write_bundle(f, manifest, [Section("readings.json", b"{}\n")]))
            made[rid] = (i, "urgent" if urgency(entry)[0] else priority, at)
        sender.drain()  # what the send thread does when it wakes
        pending = sender.outbox.pending()
        if pending:  # the send thread sleeps until the next is due, at most a minute (Sender.run)
            due = min(sender.pace.due_at(e, clock.now) for e in pending)
            heapq.heappush(events, (min(max(due, clock.now + 0.05), clock.now + 60), i, "wake"))
    return {
        "boxes": len(boxes),
        "up_at": backend.up_at,
        "made": made,
        "taken": backend.taken,
        "duplicates": backend.duplicates,
        "contacts": dict(backend.contacts),
        "refused": dict(backend.refused),
        "bytes_sent": backend.bytes_sent,
    }


def merge(parts: list[dict]) -> dict:
    """The fleet's figures from the ledgers of its parts."""
    n = sum(p["boxes"] for p in parts)
    up_at = parts[0]["up_at"]
    made = {k: v for p in parts for k, v in p["made"].items()}
    taken = {k: v for p in parts for k, v in p["taken"].items()}
    contacts: Counter[int] = Counter()
    per_second: Counter[int] = Counter()
    for p in parts:
        contacts.update({int(k): v for k, v in p["contacts"].items()})
    for t in taken.values():
        per_second[int(t)] += 1
    out: dict = {"boxes": n, "reports": len(made)}
    for kind in ("urgent", "medium", "low"):
        waits = [taken[r] - up_at for r, (_, k, _) in made.items() if k == kind and r in taken]
        out[kind] = {
            "reports": sum(1 for _, k, _ in made.values() if k == kind),
            "p50_s": percentile(waits, 50),
            "p90_s": percentile(waits, 90),
            "max_s": round(max(waits), 1) if waits else None,
        }
    out["max_share_delivering_in_1s"] = round(max(per_second.values(), default=0) / n, 4)
    out["max_share_contacting_in_1s"] = round(max(contacts.values(), default=0) / n, 4)
    out["lost"] = sum(1 for r in made if r not in taken)
    out["duplicated"] = sum(p["duplicates"] for p in parts)
    out["bytes_sent"] = sum(p["bytes_sent"] for p in parts)
    return out


def _part(args: tuple) -> dict:
    boxes, outage_s, mix, seed, folder = args
    return simulate(boxes, outage_s, mix, seed, Path(folder))


def run_simulated(n: int, outage_s: float, mix: dict[str, float], seed: int = 1, procs: int = 1) -> dict:
    """N boxes in PROCS processes (one event loop each, on tmpfs where there is one)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="diag-agent-fleet-", dir=base) as folder:
        chunks = [range(k, n, procs) for k in range(procs)]
        jobs = [(chunk, outage_s, mix, seed, folder) for chunk in chunks]
        if procs == 1:
            parts = [_part(jobs[0])]
        else:
            from multiprocessing import Pool

            with Pool(procs) as pool:
                parts = pool.map(_part, jobs)
    return merge(parts)


def parse_mix(text: str) -> dict[str, float]:
    mix = dict(DEFAULT_MIX)
    for item in filter(None, text.split(",")):
        name, _, share = item.partition("=")
        if name not in mix:
            raise SystemExit(f"fleet.py: --mix knows urgent, medium and low, not {name!r}")
        mix[name] = float(share)
    if abs(sum(mix.values()) - 1) > 1e-6:
        raise SystemExit("fleet.py: --mix shares must add up to 1")
    return mix


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="boxes")
    ap.add_argument("outage_s", type=float, help="how long the backend is down")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix", default="", help="shares of the reports: urgent=0.1,medium=0.3,low=0.6")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="processes for simulated boxes")
    ap.add_argument("--real", action="store_true", help="real agent processes, Mosquitto, the intake on PostgreSQL")
    ap.add_argument("--workers", type=int, default=2, help="intake workers (--real)")
    ap.add_argument("--budget-days", type=int, help="instead: one box on a metered link for this many days")
    ap.add_argument("--day-bytes", type=int, default=600_000, help="its data budget a day (--budget-days)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t = time.monotonic()
    if args.budget_days:  # what the data budget thinned and deferred (scripts/budget_run.py)
        from tools.budget_run import run as run_budget

        with tempfile.TemporaryDirectory(prefix="diag-agent-budget-") as work:
            figures = run_budget(args.budget_days, args.day_bytes, 0, Path(work))
    elif args.real:
        from tools.fleet_real import run_real

        figures = run_real(args.n, args.outage_s, parse_mix(args.mix), args.seed, args.workers)
    else:
        figures = run_simulated(args.n, args.outage_s, parse_mix(args.mix), args.seed, max(1, min(args.procs, args.n)))
    figures["wall_s"] = round(time.monotonic() - t, 1)
    print(json.dumps(figures, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
