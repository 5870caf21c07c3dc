"""History ring buffers: fixed memory, the last hour at full rate, min/mean/max buckets for 24 h."""

from __future__ import annotations

import tracemalloc

import pytest

from agent.devices.history import History, HistoryConfig, decode_buckets, decode_raw
from agent.devices.profiles import load_profile
from rigs.peers import ROOT

PROFILES = ROOT / "config" / "profiles"


def feed(history, values, start, hours, period=5.0):
    t = start
    for _ in range(int(hours * 3600 / period)):
        t += period
        for i, (device, name) in enumerate(values):
            history.add(device, name, 230.0 + (t % 11) + i, t, 1.7e9 + t, period)
    return t


def test_memory_after_24_hours_is_no_larger_than_after_one():
    values = [
        (dev, n)
        for dev, prof in (("meter", "sdm630"), ("evse", "evse_din"))
        for n, s in load_profile(PROFILES, prof).values.items()
        if s.poll != "once"
    ][:10]
    history = History()
    tracemalloc.start()
    try:
        t = feed(history, values, 0.0, 1)
        after_one_hour = tracemalloc.get_traced_memory()[0]
        feed(history, values, t, 23)
        after_a_day = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_a_day <= after_one_hour * 1.01
    assert len(history) == len(values)


def test_raw_keeps_the_last_hour_and_buckets_keep_the_window():
    history = History(HistoryConfig(raw_seconds=3600, bucket_s=60, window_s=24 * 3600))
    t = 0.0
    for _ in range(int(30 * 3600 / 5)):  # 30 hours, one sample every 5 s
        t += 5
        history.add("meter", "voltage_l1", 230.0 + (t % 60) / 10, t, 1.7e9 + t, 5.0)
    data = history.to_dict({("meter", "voltage_l1"): "V"})["meter"]["voltage_l1"]
    assert data["unit"] == "V"
    raw = decode_raw(data["raw"])
    assert 3595 <= raw[-1][0] - raw[0][0] <= 3605
    assert raw[-1] == (1.7e9 + t, 230.0 + (t % 60) / 10)
    buckets = decode_buckets(data["buckets"])
    # The buckets cover the 23 hours before the raw hour, and end where it starts.
    assert 23 * 60 - 1 <= len(buckets) <= 23 * 60 + 1
    assert raw[-1][0] - buckets[0][0] == pytest.approx(24 * 3600, abs=125)
    wall, low, mean, high, n = buckets[-2]  # a full minute: 12 samples of 230.0 .. 235.5
    assert (low, high, n) == (230.0, 235.5, 12)
    assert mean == pytest.approx(232.8)  # 232.75 to four significant digits


def test_buckets_follow_the_monotonic_clock_when_the_wall_clock_jumps():
    history = History(HistoryConfig(bucket_s=60))
    history.add("m", "v", 1.0, 10.0, 100.0, 5.0)
    history.add("m", "v", 3.0, 15.0, 1.8e9, 5.0)  # NTP sync: the wall clock jumps by decades
    (bucket,) = history._series[("m", "v")].buckets()
    assert bucket[1:] == (1.0, 2.0, 3.0, 2)
    assert [w for w, _ in decode_raw(history.to_dict()["m"]["v"]["raw"])] == [100.0, 1.8e9]
