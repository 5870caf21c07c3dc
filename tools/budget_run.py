#!/usr/bin/env python3
"""One box on a metered link for DAYS days: what its data budget thinned, deferred and let through.

    scripts/budget_run.py [--days 7] [--day-bytes 600000] [--month-bytes 0] [--json]
    (also: scripts/fleet.py 1 0 --budget-days 7)

The agent's own code end to end: each report is made by agent/report/build.make_report from 24 h of 1 Hz
history (the simulator's model, as the bench), the budget (agent/transports/budget.py) and the sender
(agent/transports/sender.py) decide, the HTTPS transport carries it to the reference intake on loopback and
the budget counts the real exchange. Only the clock is virtual: the budget's and the sender's, so days pass
in seconds. A day's reports: SCHEDULE (hour, kind): kind low (the box's own), medium (a hardware fault),
on-site (an installer), answer (support asked for data).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rigs import peers

SCHEDULE = [(2, "low"), (6, "low"), (9, "medium"), (11, "on-site"), (13, "low"), (15, "answer"), (17, "medium")]
SCHEDULE += [(19, "low"), (22, "low")]
ZONE = "Europe/Berlin"


def request_of(kind: str, day: int, hour: int):
    from agent.request import ReportRequest

    subject = f"day {day} {hour:02d}:00 {kind} report"
    return ReportRequest(
        subject=subject,
        on_site=kind == "on-site",
        hardware_fault=kind == "medium",
        question=f"Q-{day}" if kind == "answer" else None,
        case_ref="CASE-000001" if kind == "answer" else None,
    )


def run(days: int, day_bytes: int, month_bytes: int, work: Path) -> dict:
    certs = peers.make_certs(work)
    intake = peers.start_intake(work / "intake", certs["cert"], certs["key"])
    try:
        box = _Box(work, intake.info["url"], certs["ca"], day_bytes, month_bytes)
        used: dict[str, int] = {}
        for day in range(days + 1):  # one day more: what the last day deferred goes
            for hour in range(24):
                for minute in range(0, 60, 15):  # the sender looks every 15 virtual minutes
                    box.now[0] = (box.start + timedelta(days=day, hours=hour, minutes=minute)).timestamp()
                    if minute == 0 and day < days:
                        box.make(day, hour)
                    box.send()
            used[str(day)] = box.budget.use.day_bytes
        return figures(box.made, used, box.start, day_bytes, days)
    finally:
        intake.stop()


class _Box:
    """The agent's builder, budget, sender and HTTPS transport for one box, on a virtual clock (NOW[0]); MADE:
    each report's day, kind, bytes and what became of it."""

    def __init__(self, work: Path, url: str, ca: str, day_bytes: int, month_bytes: int):
        from agent.cli.main import look_once
        from agent.config import load
        from agent.config.sections import DataBudget
        from agent.devices.history import History
        from agent.outbox import Outbox
        from agent.transports import budget as budgets
        from agent.transports.https import HttpsTransport
        from agent.transports.sender import Sender, fingerprint
        from tools import bench

        path = peers.write_agent_config(
            work / "agent.yaml",
            serial="BUDGET-0001",
            buses=[],
            devices=[],
            backend={"url": url, "ca_file": ca},
            extra={"timezone": ZONE},
        )
        self.cfg = load(path)
        history = History()
        history.units = bench.fill_history(history, 24, interval_s=1.0)
        self.box = look_once(self.cfg).but(history=history.freeze())
        self.start = datetime(2027, 3, 1, tzinfo=ZoneInfo(ZONE))
        self.now = [self.start.timestamp()]
        limits = DataBudget(day_bytes=day_bytes, month_bytes=month_bytes)
        self.budget = budgets.Budget(limits, work / "b.json", ZONE, self.clock)
        self.outbox = Outbox(work / "outbox")
        https = HttpsTransport(self.cfg.backend, self.cfg.device.identity, meter=self.budget)
        self.sender = Sender(
            self.cfg.backend, self.outbox, [https], fingerprint(self.cfg), clock=self.clock, budget=self.budget
        )
        self.made: dict[str, dict] = {}

    def clock(self) -> float:
        return self.now[0]

    def make(self, day: int, hour: int) -> None:
        from agent.report.build import make_report

        for h, kind in SCHEDULE:
            if h == hour:
                entry = make_report(self.cfg, request_of(kind, day, hour), self.box, self.outbox, self.budget)
                thinned = bool(entry.extra.get("thinned"))
                self.made[entry.report_id] = {"day": day, "kind": kind, "bytes": entry.size, "thinned": thinned}

    def send(self) -> None:
        """One look of the sender, and what became of each report noted."""
        self.sender.drain()
        for e in self.outbox.entries():
            m = self.made.get(e.report_id)
            if m is None:
                continue
            if e.extra.get("deferred") and "deferred_to" not in m:
                m["deferred_to"] = e.extra["deferred"]["until"]
            if e.delivered and "delivered" not in m:
                m["delivered"] = self.now[0]


def figures(made: dict, used: dict, start: datetime, day_bytes: int, days: int) -> dict:
    per_day: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    for m in made.values():
        d = per_day[m["day"]]
        d[f"{m['kind']}_made"] += 1
        d[f"{m['kind']}_thinned"] += m["thinned"]
        d[f"{m['kind']}_deferred"] += "deferred_to" in m
        late = m.get("delivered", float("inf")) - (start + timedelta(days=m["day"] + 1)).timestamp()
        d[f"{m['kind']}_delivered_same_day"] += late < 0
        d["on_site_bytes"] += m["bytes"] if m["kind"] == "on-site" else 0  # always goes: may go over the day's
    out = {
        "day_bytes": day_bytes,
        "days": {str(k): dict(v, bytes_counted=used[str(k)]) for k, v in sorted(per_day.items())},
        "bytes_by_kind": {
            k: sum(m["bytes"] for m in made.values() if m["kind"] == k) for k in {m["kind"] for m in made.values()}
        },
        "thinned_report_bytes_median": _median([m["bytes"] for m in made.values() if m["thinned"]]),
        "full_report_bytes_median": _median([m["bytes"] for m in made.values() if not m["thinned"]]),
        "undelivered": sum("delivered" not in m for m in made.values()),
        "urgent_or_answer_deferred": sum(
            "deferred_to" in m for m in made.values() if m["kind"] in ("on-site", "answer")
        ),
    }
    return out


def _median(values: list[int]) -> int | None:
    return sorted(values)[len(values) // 2] if values else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--day-bytes", type=int, default=600_000)
    ap.add_argument("--month-bytes", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="diag-agent-budget-") as work:
        result = run(args.days, args.day_bytes, args.month_bytes, Path(work))
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
