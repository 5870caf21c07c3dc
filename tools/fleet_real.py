"""scripts/fleet.py --real: N real `diag-agent run` processes against Mosquitto and the reference intake on
PostgreSQL with WORKERS workers (each box talks to one of them), the intake down for OUTAGE_S while every box
makes a report (10 % on site, 30 % with a hardware fault active: medium, the rest low), then back.

Each box's delivery time is its outbox entry's receipt being written (the state file's mtime); duplicates are
cases beyond one per report at the intake. The boxes send by HTTPS (backend.transport: https), MQTT carries
their status and case states; the broker stays up (a managed broker rarely goes down with the backend)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from rigs import backend_peers, peers
from tools.stats import percentile

SETTLE_S = 900.0  # after the intake's return, how long the run waits for the last report


def _intake(work: Path, certs: dict, db: str, port: int, broker: int, name: str) -> peers.Peer:
    extra = ["--port", str(port), "--db", db, "--mqtt-share", "intake", "--poll-s", "3600"]
    return peers.start_intake(work / "intake", certs["cert"], certs["key"], mqtt_port=broker, extra=extra, name=name)


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        peers.agent_argv() + [*args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=peers.agent_env(),
    )


def run_real(n: int, outage_s: float, mix: dict[str, float], seed: int = 1, workers: int = 2) -> dict:
    """N agents and the intake's WORKERS on PostgreSQL; the intake down for OUTAGE_S while every box makes its
    report; the boxes' receipts and the intake's tables tell when each was delivered and whether once."""
    work = Path(tempfile.mkdtemp(prefix="diag-agent-fleet-real-"))
    certs = peers.make_certs(work / "certs")
    running: list = []
    pg = backend_peers.start_postgres()
    try:
        db = pg.create("fleet")
        broker = peers.start_mosquitto(work / "broker", extra_conf="max_connections -1\n")
        running.append(broker)
        ports = [peers.free_port() for _ in range(workers)]
        intakes = [_intake(work, certs, db, p, broker.info["port"], f"intake{i}") for i, p in enumerate(ports)]
        boxes = [_box(work, i, ports[i % workers], certs, broker, _kind(seed, i, mix)) for i in range(n)]
        running += [peers.start_agent(b["folder"], b["config"]) for b in boxes]
        for peer in intakes:
            peer.stop()
        _outage(boxes, outage_s)
        up_at = time.time()
        running += [_intake(work, certs, db, p, broker.info["port"], f"intake{i}-again") for i, p in enumerate(ports)]
        _wait_for_receipts(boxes, up_at + SETTLE_S)
        cases = int(pg.psql("SELECT count(*) FROM cases", db="fleet").strip() or 0)
        reports = int(pg.psql("SELECT count(*) FROM reports", db="fleet").strip() or 0)
    finally:
        for peer in reversed(running):
            peer.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)  # N boxes' states and logs
    return _figures(boxes, up_at, cases, reports)


def _kind(seed: int, i: int, mix: dict[str, float]) -> tuple[str, float]:
    """Box I's report kind by the MIX, and when in the outage's first half it makes it (a share of it)."""
    draw = random.Random(f"{seed}-{i}")
    share = draw.random()
    kind = "urgent" if share < mix["urgent"] else "medium" if share < mix["urgent"] + mix["medium"] else "low"
    return kind, draw.uniform(0, 0.5)


def _box(work: Path, i: int, port: int, certs: dict, broker, kind: tuple[str, float]) -> dict:
    folder = work / f"box{i:04d}"
    folder.mkdir()
    (folder / "firmware-version").write_text("2.4.1\n")
    config = peers.write_agent_config(
        folder / "agent.yaml",
        serial=f"FLEET-{i:04d}",
        buses=[],
        devices=[],
        backend={"url": f"https://127.0.0.1:{port}/api/v1/reports", "ca_file": certs["ca"], "transport": "https"},
        mqtt={"enabled": True, "port": broker.info["port"]},
        state_dir=str(folder / "state"),
        extra={
            "web": {"enabled": False},
            "button": {"enabled": False},
            "auto_report": {"enabled": False},
            "report": {"wait_for_case_s": 1},
        },
    )
    return {"folder": folder, "config": config, "state": folder / "state", "kind": kind[0], "at": kind[1]}


def _outage(boxes: list[dict], outage_s: float) -> None:
    """Every box makes its report at its moment while the intake is down; returns when the outage is over."""
    down_at = time.time()

    def make(box: dict) -> None:
        time.sleep(box["at"] * outage_s)
        if box["kind"] == "medium":
            _cli(box["config"], "event", "fault", "--code", "CONTACTOR", "--message", "contactor welded")
        argv = peers.report_argv(f"fleet {box['kind']}") + (["--on-site"] if box["kind"] == "urgent" else [])
        box["made"] = _cli(box["config"], "report", *argv).returncode

    makers = [threading.Thread(target=make, args=(b,)) for b in boxes]
    for t in makers:
        t.start()
    time.sleep(max(0.0, down_at + outage_s - time.time()))
    for t in makers:
        t.join()


def _delivered(box: dict) -> float | None:
    """When the box's report got its receipt (its outbox entry's time), or None."""
    for state in (box["state"] / "outbox").glob("*.json"):
        if json.loads(state.read_text()).get("receipt"):
            return state.stat().st_mtime
    return None


def _wait_for_receipts(boxes: list[dict], deadline: float) -> None:
    while time.time() < deadline:
        for b in boxes:
            b["t"] = b.get("t") or _delivered(b)
        if all(b["t"] for b in boxes):
            return
        time.sleep(1)


def _figures(boxes: list[dict], up_at: float, cases: int, reports: int) -> dict:
    n = len(boxes)
    out: dict = {"boxes": n, "made": sum(1 for b in boxes if b.get("made") == 3), "mode": "real"}
    for kind in ("urgent", "medium", "low"):
        waits = [b["t"] - up_at for b in boxes if b["kind"] == kind and b.get("t")]
        out[kind] = {
            "reports": sum(1 for b in boxes if b["kind"] == kind),
            "p50_s": percentile(waits, 50),
            "p90_s": percentile(waits, 90),
            "max_s": round(max(waits), 1) if waits else None,
        }
    per_second = Counter(int(b["t"]) for b in boxes if b.get("t"))
    out["max_share_delivering_in_1s"] = round(max(per_second.values(), default=0) / n, 4)
    if per_second:  # where the busiest second was, after the return, and whose deliveries it held
        second, most = per_second.most_common(1)[0]
        kinds = sorted(b["kind"] for b in boxes if b.get("t") and int(b["t"]) == second)
        out["busiest_second"] = {"after_return_s": round(second - up_at, 1), "boxes": most, "kinds": kinds}
    out["lost"] = sum(1 for b in boxes if not b.get("t"))
    out["duplicated"] = max(0, cases - reports)
    out["intake_reports"] = reports
    return out
