"""The agent tried as an attacker would: a page on another origin, floods of idle connections, hooks that
misbehave, hostile cloud payloads, kill -9 in the middle of a request, a full disk, and secrets in every
encoding. Each attack is a test that stays; each counts what it tried."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

from agent.channels import control
from rigs import peers
from tests.unit.test_security import CANARY, KEY, NoDesk, Replies  # noqa: F401  (fixtures and helpers shared with that tier)


# --- exactly once across kill -9 ----------------------------------------------------------------
def test_kill_9_during_a_cli_report_never_makes_it_twice(tmp_path, certs, make_config, cli, capsys):
    intake_dir = tmp_path / "intake"
    silent = socket.socket()  # a backend that takes the connection and never answers: the CLI keeps waiting
    silent.bind(("127.0.0.1", 0))
    silent.listen(50)
    cfg = make_config(
        backend={
            "url": f"https://127.0.0.1:{silent.getsockname()[1]}/api/v1/reports",
            "retry_base_s": 0.1,
            "retry_max_s": 0.5,
            "timeout_s": 20.0,
        },
        extra={"report": {"wait_for_case_s": 30}},
    )
    outbox = tmp_path / "state" / "outbox"
    kills, requests_made = 0, 0
    for i in range(5):
        agent = peers.start_agent(tmp_path / "run", cfg)
        before = set(outbox.glob("*.json"))
        proc = subprocess.Popen(
            peers.agent_argv() + ["report", "--config", str(cfg), *peers.report_argv(f"Killed while asking {i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        requests_made += 1
        peers.wait_for(lambda: set(outbox.glob("*.json")) - before, 20, "the report accepted")
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait(10)
        kills += 1
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 1 and "Nothing else was made" in err, out + err
        assert len(set(outbox.glob("*.json")) - before) == 1  # the CLI did not build a second one
        agent.stop()
    silent.close()
    intake = peers.start_intake(intake_dir, certs["cert"], certs["key"])
    try:
        data = json.loads(cfg.read_text())
        data["backend"].update(url=intake.info["url"], ca_file=certs["ca"])
        cfg.write_text(json.dumps(data))
        agent = peers.start_agent(tmp_path / "run2", cfg)
        try:
            peers.wait_for(
                lambda: control.call(agent.info["control"], "status")["outbox"]["delivered"] == 5,
                60,
                "every report delivered",
            )
        finally:
            agent.stop()
    finally:
        intake.stop()
    cases = peers.intake_cases(intake_dir / "intake")
    subjects = [c["subject"] for c in cases]
    figures = {
        "kills": kills,
        "requests": requests_made,
        "cases": len(cases),
        "duplicates": len(subjects) - len(set(subjects)),
        "lost": requests_made - len(set(subjects)),
    }
    with capsys.disabled():
        print(f"\nkill -9 during CLI reports: {json.dumps(figures)}")
    assert figures == {"kills": 5, "requests": 5, "cases": 5, "duplicates": 0, "lost": 0}
