"""Kill the agent with SIGKILL at random moments while it builds, spools and sends reports; afterwards
every report it accepted reaches the intake exactly once, intact. 50 kills; --long makes it 500."""

from __future__ import annotations

import json
import random
import signal
import threading
from collections import Counter

import requests

from agent.channels import control
from agent.report.bundle import BundleError, read_bundle
from rigs import peers


def _one_kill(tmp_path, cfg, after_s: float) -> set[str]:
    """One run of the daemon with two clients asking for reports, killed with SIGKILL AFTER_S after it accepted
    its first (so that the kill lands in building, spooling and sending, however fast the machine starts a
    daemon): the report ids it accepted before it died."""
    accepted: set[str] = set()
    agent = peers.start_agent(tmp_path / "crash", cfg)
    stop = threading.Event()
    first = threading.Event()

    def submit():
        while not stop.is_set():
            try:
                answer = control.call(
                    agent.info["control"], "report", dict(peers.report_fields("crash"), wait_s=0), timeout=10
                )
            except (OSError, TimeoutError, control.NotRunning, control.NoAnswer, ValueError):
                return  # killed mid-call: this one was never accepted
            if answer.get("ok"):
                accepted.add(answer["report_id"])
                first.set()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    first.wait(30)  # a daemon that accepts nothing at all fails the test below, not here
    stop.wait(after_s)
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    agent.stop()
    return accepted


def _damaged(bundles) -> int:
    damaged = 0
    for path in bundles.glob("*.tar.gz"):
        try:
            read_bundle(path.read_bytes())
        except BundleError:
            damaged += 1
    return damaged


def test_sigkill_at_random_moments_loses_and_damages_nothing(tmp_path, certs, make_config, request, intake):
    kills_wanted = 500 if request.config.getoption("--long") else 50
    (tmp_path / "hooks").mkdir()  # no hooks: the kills should land in building, spooling and sending
    cfg = make_config(
        backend={"url": intake.info["url"], "ca_file": certs["ca"], "retry_base_s": 0.05, "retry_max_s": 0.5},
        extra={"hooks": {"dir": str(tmp_path / "hooks")}, "health": {"interval_s": 3600}},
    )
    rng = random.Random(20261125)
    accepted: set[str] = set()
    kills = 0
    for _ in range(kills_wanted):
        accepted |= _one_kill(tmp_path, cfg, rng.uniform(0.0, 0.5))
        kills += 1

    # One last, undisturbed run drains the outbox.
    agent = peers.start_agent(tmp_path / "crash", cfg)
    try:

        def drained():
            status = control.call(agent.info["control"], "status")
            return status["outbox"]["accepted"] + status["outbox"]["sending"] == 0 and status

        status = peers.wait_for(drained, 120, "the outbox to drain", interval=0.2)
    finally:
        agent.stop()

    base = intake.info["url"].rsplit("/", 1)[0]
    cases = requests.get(f"{base}/cases", verify=certs["ca"], timeout=10).json()["cases"]
    stats = requests.get(f"{base}/stats", verify=certs["ca"], timeout=10).json()
    by_id = Counter(c["report_id"] for c in cases)
    damaged = stats["rejected"] + _damaged(tmp_path / "intake-run" / "intake" / "bundles")
    outbox = tmp_path / "state" / "outbox"
    counts = {
        "kills": kills,
        "accepted": len(accepted),
        "delivered": len(set(by_id) & accepted),
        "cases": len(cases),
        "duplicate_cases": sum(n - 1 for n in by_id.values()),
        "redeliveries": stats["deliveries"] - len(cases),
        "damaged": damaged,
        "parked": status["outbox"]["refused"],
    }
    print("crash test:", json.dumps(counts))
    assert kills == kills_wanted and len(accepted) > kills_wanted // 2
    assert accepted <= set(by_id), f"lost: {sorted(accepted - set(by_id))[:5]}"
    assert counts["duplicate_cases"] == 0 and damaged == 0 and status["outbox"]["refused"] == 0
    assert not [p for p in outbox.iterdir() if p.name.endswith(".tmp")]
