"""The flight recorder: the timeline, the fault windows and the history survive kill -9 and a power cut.

A power cut is an ext4 image on a loop device with direct I/O: a copy of the image file taken while the
agent records holds what reached the "card" and nothing that sat unsynced in the page cache."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.config import RecorderConfig as RecorderSettings
from agent.devices.history import History, decode_raw
from agent.recorder import Recorder, judge_last_stop
from agent.watch.timeline import Timeline
from rigs import peers


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
