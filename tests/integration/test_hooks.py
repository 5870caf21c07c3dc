"""The firmware hook runner and the shipped hooks, as real processes."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from agent.health.hooks import run_hooks
from rigs import peers
from tests.unit.test_hooks import SHIPPED, hook  # noqa: F401  (fixtures and helpers shared with that tier)


def shipped(name, **env):
    out = subprocess.run(
        [str(SHIPPED / name), "collect"],
        capture_output=True,
        text=True,
        timeout=10,
        env={"PATH": os.environ["PATH"], **env},
    )
    return out.returncode, json.loads(out.stdout) if out.returncode == 0 else out.stderr


def test_shipped_firmware_version_hook(tmp_path):
    (tmp_path / "v").write_text("2.5.0 beta\n")
    assert shipped("firmware_version", FIRMWARE_VERSION_FILE=str(tmp_path / "v"))[1]["version"] == "2.5.0"
    assert shipped("firmware_version", FIRMWARE_VERSION_FILE=str(tmp_path / "v"))[1]["channel"] == "beta"
    code, err = shipped("firmware_version", FIRMWARE_VERSION_FILE=str(tmp_path / "missing"))
    assert code == 1 and "No such file" in err


def test_shipped_commissioning_and_credentials_hooks_say_yes_or_no_only(tmp_path):
    assert shipped("commissioning", COMMISSIONING_PROTOCOL=str(tmp_path / "none.pdf"))[1]["present"] is False
    (tmp_path / "c.pdf").write_bytes(b"%PDF-1.4 protocol")
    assert shipped("commissioning", COMMISSIONING_PROTOCOL=str(tmp_path / "c.pdf"))[1]["present"] is True
    (tmp_path / "cloud.json").write_text('{"user": "owner", "password": "CANARY-cloud-secret"}')
    out = subprocess.run(
        [str(SHIPPED / "cloud_credentials"), "collect"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "CLOUD_CREDENTIALS_FILE": str(tmp_path / "cloud.json")},
    )
    assert json.loads(out.stdout) == {"configured": True}
    assert "CANARY" not in out.stdout + out.stderr
    assert shipped("cloud_credentials", CLOUD_CREDENTIALS_FILE=str(tmp_path / "nope"))[1] == {"configured": False}


def test_shipped_log_hook_keeps_the_newest_lines_within_its_limits(tmp_path):
    log = tmp_path / "fw.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    _, out = shipped("firmware_logs", FIRMWARE_LOGS=f"{log}:{tmp_path / 'gone.log'}", LOG_TAIL_LINES="50")
    entry = out["files"][str(log)]
    assert entry["lines"][-1] == "line 99999" and len(entry["lines"]) == 50 and entry["truncated"]
    assert out["files"][str(tmp_path / "gone.log")] == {"error": "No such file or directory"}


@pytest.mark.parametrize(
    "raw, now, occurred", [("0x50005", True, True), ("0x50000", False, True), ("0x0", False, False)]
)
def test_shipped_throttling_hook_reads_vcgencmd(tmp_path, raw, now, occurred):
    hook(tmp_path, "vcgencmd", f"echo throttled={raw}")
    out = subprocess.run(
        [str(SHIPPED / "pi_throttling"), "collect"],
        capture_output=True,
        text=True,
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}"},
    )
    data = json.loads(out.stdout)
    assert data["available"] and data["undervoltage_now"] is now and data["undervoltage_occurred"] is occurred


def test_throttling_hook_without_vcgencmd():
    assert shipped("pi_throttling")[1] == {"available": False}


def test_bad_hooks_are_recorded_and_the_good_one_still_answers(tmp_path):
    hook(tmp_path, "good", 'echo \'{"version": "1.0"}\'')
    hook(tmp_path, "hangs", "echo starting >&2; sleep 60")
    hook(tmp_path, "crashes", "echo 'segfault in module x' >&2; exit 3")
    hook(tmp_path, "garbage", "echo 'version: 1.0'")
    hook(tmp_path, "not_an_object", "echo '[1, 2]'")
    hook(tmp_path, "floods", "head -c 52428800 /dev/zero | tr '\\0' 'x'")  # 50 MB
    hook(tmp_path, "notes.md", "not a hook")
    (tmp_path / "not-executable").write_text("#!/bin/sh\necho '{}'\n")
    results = run_hooks(tmp_path, timeout_s=1.0, max_output_bytes=65536, deadline_s=5.0)
    assert set(results) == {"good", "hangs", "crashes", "garbage", "not_an_object", "floods"}
    assert results["good"].ok and results["good"].output == {"version": "1.0"}
    assert results["hangs"].error == "did not finish within 1 s" and results["hangs"].stderr_tail == "starting"
    assert results["crashes"].error == "exited with code 3"
    assert results["crashes"].stderr_tail == "segfault in module x"
    assert results["garbage"].error.startswith("stdout is not valid JSON")
    assert results["not_an_object"].error == "stdout is JSON but not an object"
    assert results["floods"].error == "printed more than 65536 bytes"


def test_the_overall_deadline_ends_every_hook_and_its_children(tmp_path):
    marker = tmp_path / "child-pid"
    hook(tmp_path, "slow_a", f"sleep 60 & echo $! > {marker}; wait")
    hook(tmp_path, "slow_b", "sleep 60")
    results = run_hooks(tmp_path, timeout_s=30.0, deadline_s=1.0)
    assert [r.error for r in results.values()] == ["did not finish within 1 s"] * 2
    child = int(marker.read_text())

    def gone() -> bool:  # SIGKILL to the group is sent at once; the kernel ends the child a moment later
        try:
            return open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    peers.wait_for(gone, 5, "the hook's child ended with it")


def test_hooks_get_only_the_configured_environment(tmp_path):
    hook(tmp_path, "env", 'printf \'{"fw": "%s", "home": "%s"}\' "$FIRMWARE_VERSION_FILE" "$HOME"')
    (result,) = run_hooks(tmp_path, env={"FIRMWARE_VERSION_FILE": "/etc/wallbox/version"}).values()
    assert result.output == {"fw": "/etc/wallbox/version", "home": ""}
