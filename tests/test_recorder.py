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

import peers
import pytest

from agent.config import RecorderConfig as RecorderSettings
from agent.devices.history import History, decode_raw
from agent.recorder import Recorder, judge_last_stop
from agent.report.bundle import read_bundle
from agent.report.sections.history import read as read_history
from agent.watch.timeline import Timeline


class Clock:
    def __init__(self, t: float = 1000.0, wall: float = 1.79e9):
        self.t, self.offset = t, wall - t

    def mono(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.t + self.offset


def recorder_at(state: Path, clock: Clock, history: History | None = None, **settings) -> Recorder:
    history = History() if history is None else history
    timeline = Timeline(capacity=50, clock=clock.mono, wall=clock.wall)
    return Recorder(
        RecorderSettings(**{"fault_before_s": 60, "fault_after_s": 30, **settings}),
        str(state),
        history,
        timeline,
        clock=clock.mono,
        wall=clock.wall,
    )


def settle(rec: Recorder) -> None:
    """Wait for the recorder's writer to have done everything it was given."""
    peers.wait_for(lambda: rec._writer.idle, 10, "the recorder's writes")


def fault(code: str, device: str | None = "meter"):
    return SimpleNamespace(code=code, device=device, severity="error", message=f"{code} happened")


def test_the_last_stop_is_judged_from_what_the_last_run_left():
    assert judge_last_stop(None, "", "b1") is None
    assert judge_last_stop({"clean": True, "boot_id": "b1"}, "", "b1")[0] == "orderly"
    dump = 'Fatal Python error: Aborted\n\nCurrent thread 0x1 (most recent call first):\n  File "/x/poller.py", line 9 in read\n'
    kind, words = judge_last_stop({"clean": False, "boot_id": "b1"}, dump, "b1")
    assert kind == "watchdog" and 'poller.py", line 9' in words
    assert (
        judge_last_stop({"clean": False, "boot_id": "b1"}, "Fatal Python error: Segmentation fault\n", "b1")[0]
        == "crash"
    )
    assert judge_last_stop({"clean": False, "boot_id": "b1"}, "", "b2")[0] == "power_loss"
    assert judge_last_stop({"clean": False, "boot_id": "b1"}, "", "b1")[0] == "crash"


def test_a_fault_window_is_on_disk_at_once_and_completed_after_it(tmp_path):
    clock, history = Clock(), History()
    rec = recorder_at(tmp_path, clock, history)
    rec.start(catch_abort=False)
    for _ in range(120):  # two minutes at 1 Hz
        clock.t += 1
        history.add("meter", "voltage_l1", 230.0 + clock.t % 7, clock.mono(), clock.wall(), 1.0)
        history.add("evse", "vehicle_state", 3, clock.mono(), clock.wall(), 1.0)
    rec.fault_raised(fault("phase_lost"))
    raised = clock.wall()
    settle(rec)
    (entry,) = json.loads((tmp_path / "recorder/windows/index.json").read_text())
    assert entry["complete"] is False and entry["code"] == "phase_lost"
    window = json.loads(gzip.decompress((tmp_path / "recorder/windows" / entry["file"]).read_bytes()))
    samples = decode_raw(window["series"]["meter"]["voltage_l1"]["raw"])
    assert samples[0][0] == pytest.approx(raised - 60, abs=1) and samples[-1][0] == raised
    assert "evse" not in window["series"]  # the fault's device only
    for _ in range(40):
        clock.t += 1
        history.add("meter", "voltage_l1", 0.0, clock.mono(), clock.wall(), 1.0)
        rec.tick()
    settle(rec)
    (entry,) = json.loads((tmp_path / "recorder/windows/index.json").read_text())
    window = json.loads(gzip.decompress((tmp_path / "recorder/windows" / entry["file"]).read_bytes()))
    samples = decode_raw(window["series"]["meter"]["voltage_l1"]["raw"])
    assert entry["complete"] is True and samples[-1][0] == pytest.approx(raised + 30, abs=1)
    rec.stop()


def test_windows_are_bounded_by_count_and_bytes(tmp_path):
    clock, history = Clock(), History()
    rec = recorder_at(tmp_path, clock, history, fault_windows=3)
    rec.start(catch_abort=False)
    for i in range(6):
        clock.t += 100
        history.add("meter", "voltage_l1", 230.0, clock.mono(), clock.wall(), 1.0)
        rec.fault_raised(fault(f"f{i}"))
        rec.fault_raised(fault(f"f{i}"))  # flapping inside its own window: no second window
        settle(rec)
    index = json.loads((tmp_path / "recorder/windows/index.json").read_text())
    assert [e["code"] for e in index] == ["f3", "f4", "f5"] and rec.skipped_windows == 6
    assert sorted(p.name for p in (tmp_path / "recorder/windows").glob("*.gz")) == sorted(e["file"] for e in index)
    rec.stop()


def test_timeline_and_history_come_back_after_a_restart_marked_as_earlier(tmp_path):
    clock, history = Clock(), History()
    rec = recorder_at(tmp_path, clock, history)
    rec.start(catch_abort=False)
    for _ in range(30):
        clock.t += 1
        history.add("meter", "voltage_l1", 231.0, clock.mono(), clock.wall(), 1.0)
    rec.timeline.add("raised", "phase_lost", "L2 lost", device="meter")
    rec.stop()  # orderly: the checkpoint is written
    with open(tmp_path / "recorder/timeline.jsonl", "ab") as f:
        f.write(b'{"kind":"raised","code":"cut_sh')  # a line the power cut left half-written
    stopped_at = clock.wall()

    clock.t += 600  # a new boot's monotonic clock would start anywhere
    again = History()
    rec2 = recorder_at(tmp_path, clock, again)
    rec2.start(catch_abort=False)
    events = rec2.timeline.to_list()
    assert [(e["code"], e["earlier_run"]) for e in events] == [("phase_lost", True), ("last_stop_orderly", False)]
    assert rec2.earlier_until == pytest.approx(stopped_at)
    again.add("meter", "voltage_l1", 229.0, clock.mono(), clock.wall(), 1.0)
    raw = decode_raw(again.freeze().series("meter", "voltage_l1")["raw"])
    assert len(raw) == 31 and raw[0][1] == 231.0 and raw[-1][1] == 229.0
    rec2.stop()
    written = (tmp_path / "recorder/timeline.jsonl").read_bytes().splitlines()
    assert json.loads(written[-1])["code"] == "last_stop_orderly"  # the judgement is itself written down


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
