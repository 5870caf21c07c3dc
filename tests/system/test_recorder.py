"""The flight recorder: the timeline, the fault windows and the history survive kill -9 and a power cut.

A power cut is an ext4 image on a loop device with direct I/O: a copy of the image file taken while the
agent records holds what reached the "card" and nothing that sat unsynced in the page cache."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.devices.history import decode_raw
from agent.report.bundle import read_bundle
from agent.report.sections.history import read as read_history
from rigs import peers
from tests.unit.test_recorder import Clock  # noqa: F401  (fixtures and helpers shared with that tier)


def agent_config(make_config, sim_bus, state: str):
    return make_config(buses=[sim_bus], devices=peers.sim_devices(), state_dir=state, poll_interval_s=1.0)


def raise_and_wait_for_window(cli, config, state: Path, code: str) -> dict:
    out = cli("event", "fault", "--code", code, "--message", "contactor welded", "--config", config)
    assert out.returncode == 0, out.stderr
    return peers.wait_for(
        lambda: (
            next(
                (e for e in json.loads((state / "recorder/windows/index.json").read_text()) if e["code"] == code), None
            )
            if (state / "recorder/windows/index.json").exists()
            else None
        ),
        20,
        "the fault window",
    )


def report_members(cli, config, out: Path) -> dict:
    done = cli("report", *peers.report_argv("after the crash"), "--out", out, "--config", config)
    assert done.returncode == 0, done.stderr
    return read_bundle(out.read_bytes())[1]


def test_after_kill_9_at_random_moments_the_report_shows_the_window_from_before(
    tmp_path, make_config, sim_bus, agent_process, cli, request
):
    rounds = 20 if request.config.getoption("--long") else 3
    config = agent_config(make_config, sim_bus, "state")
    state = tmp_path / "state"
    agent = agent_process(config)
    peers.wait_for(
        lambda: (
            json.loads(cli("status", "--json", "--config", config).stdout or "{}")
            .get("devices", {})
            .get("meter", {})
            .get("reachable")
        ),
        20,
        "readings to checkpoint",
    )
    agent.stop()  # orderly: the history's checkpoint is written
    rng = random.Random(16)
    for n in range(rounds):
        agent = agent_process(config)
        entry = raise_and_wait_for_window(cli, config, state, f"welded_{n}")
        time.sleep(rng.uniform(0, 2.5))  # somewhere while the window is being recorded
        agent.proc.kill()
        agent.proc.wait()
        agent = agent_process(config)
        members = report_members(cli, config, tmp_path / f"after-{n}.tar.gz")
        recorded = json.loads(members["recorder.json"])
        assert recorded["last_stop"]["kind"] == "crash"
        mine = next(w for w in recorded["windows"] if w["code"] == f"welded_{n}")
        assert mine["earlier_run"] is True
        window = json.loads(members[mine["member"]])
        samples = decode_raw(window["series"]["meter"]["voltage_l1"]["raw"])
        assert samples and samples[0][0] < entry["raised"]  # readings from before the fault
        events = json.loads(members["faults.json"])["timeline"]
        assert any(e["code"] == f"welded_{n}" and e["earlier_run"] for e in events)
        history = read_history(members)
        assert recorded["earlier_history_until"] is not None
        raw = decode_raw(history["meter"]["voltage_l1"]["raw"])
        # Readings restored from the checkpoint, and this run's after them.
        assert raw[0][0] <= recorded["earlier_history_until"] < raw[-1][0]
        agent.stop()


@pytest.fixture
def card(tmp_path):
    """An ext4 "SD card": an image on a loop device with direct I/O, mounted at tmp_path/card."""
    image, mount = tmp_path / "card.img", tmp_path / "card"
    mount.mkdir()
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    device = subprocess.run(
        ["losetup", "--find", "--show", "--direct-io=on", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["mount", "-o", "commit=60", device, str(mount)], check=True)  # unsynced data waits long
    yield SimpleNamespace(image=image, mount=mount, device=device)
    subprocess.run(["umount", "-l", str(mount)], check=False)
    subprocess.run(["losetup", "-d", device], check=False)


def power_cut_copy(card, into: Path) -> Path:
    """What the card holds this instant: the image file, without what sits in the mounted file system's cache."""
    subprocess.run(["cp", "--sparse=always", str(card.image), str(into)], check=True)
    return into


def mount_copy(image: Path, at: Path) -> str:
    at.mkdir()
    device = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["mount", device, str(at)], check=True)  # ext4 replays its journal, as at the next boot
    return device


def test_a_power_cut_while_recording_damages_nothing_synced_and_the_window_survives(
    tmp_path, make_config, sim_bus, agent_process, cli, card
):
    config = agent_config(make_config, sim_bus, str(card.mount / "state"))
    agent = agent_process(config)
    entry = raise_and_wait_for_window(cli, config, card.mount / "state", "brown_out")
    rng = random.Random(7)
    copies = []
    for i in range(3):  # cuts at random moments while the window fills and events come in
        time.sleep(rng.uniform(0.2, 1.5))
        cli("onsite", "on" if i % 2 == 0 else "off", "--config", config)
        copies.append(power_cut_copy(card, tmp_path / f"cut-{i}.img"))
    agent.proc.kill()
    agent.proc.wait()
    devices = []
    try:
        for i, image in enumerate(copies):
            at = tmp_path / f"after-cut-{i}"
            devices.append((mount_copy(image, at), at))
            recorder = at / "state" / "recorder"
            index = json.loads((recorder / "windows" / "index.json").read_text())
            assert any(e["code"] == "brown_out" for e in index)  # synced before the cut: whole
            for e in index:
                json.loads(gzip.decompress((recorder / "windows" / e["file"]).read_bytes()))
            lines = (recorder / "timeline.jsonl").read_bytes().splitlines(keepends=True)
            whole = [json.loads(line) for line in lines if line.endswith(b"\n")]
            assert any(e["code"] == "brown_out" for e in whole)
            assert json.loads((recorder / "run.json").read_text())["clean"] is False
        # The box comes back on the last copy: the report shows the window from before the cut.
        last = devices[-1][1]
        config2 = agent_config(make_config, sim_bus, str(last / "state"))
        agent_process(config2)
        members = report_members(cli, config2, tmp_path / "after-power-cut.tar.gz")
        recorded = json.loads(members["recorder.json"])
        mine = next(w for w in recorded["windows"] if w["code"] == "brown_out")
        window = json.loads(members[mine["member"]])
        assert decode_raw(window["series"]["meter"]["voltage_l1"]["raw"])[0][0] < entry["raised"]
    finally:
        for device, at in devices:
            subprocess.run(["umount", "-l", str(at)], check=False)
            subprocess.run(["losetup", "-d", device], check=False)
