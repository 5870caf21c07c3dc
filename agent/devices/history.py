"""Per-value history in fixed memory: the last hour at full rate, and min/mean/max per bucket for 24 h.

All arrays are allocated when a value is first seen, so memory does not grow with uptime.
Both clocks are kept: the monotonic one orders samples and cuts buckets (a Pi's wall clock may
jump when NTP syncs), the wall clock says when a sample was taken.
"""

from __future__ import annotations

import math
import threading
from array import array
from dataclasses import dataclass


@dataclass(frozen=True)
class HistoryConfig:
    raw_seconds: float = 3600.0
    bucket_s: float = 60.0
    window_s: float = 24 * 3600.0


class Series:
    def __init__(self, raw_capacity: int, buckets: int, bucket_s: float):
        self.bucket_s = bucket_s
        self._raw_mono, self._raw_wall = array("d", bytes(8 * raw_capacity)), array("d", bytes(8 * raw_capacity))
        self._raw_val = array("d", bytes(8 * raw_capacity))
        self._raw_head = self._raw_count = 0
        self._b_index = array("q", bytes(8 * buckets))
        self._b_wall = array("d", bytes(8 * buckets))
        self._b_min, self._b_max = array("d", bytes(8 * buckets)), array("d", bytes(8 * buckets))
        self._b_sum, self._b_n = array("d", bytes(8 * buckets)), array("L", bytes(array("L").itemsize * buckets))
        self._b_head, self._b_count = -1, 0

    def add(self, value: float, mono: float, wall: float) -> None:
        cap = len(self._raw_val)
        self._raw_mono[self._raw_head], self._raw_wall[self._raw_head] = mono, wall
        self._raw_val[self._raw_head] = value
        self._raw_head = (self._raw_head + 1) % cap
        self._raw_count = min(self._raw_count + 1, cap)

        index = math.floor(mono / self.bucket_s)
        h = self._b_head
        if h < 0 or self._b_index[h] != index:
            h = self._b_head = (h + 1) % len(self._b_index)
            self._b_count = min(self._b_count + 1, len(self._b_index))
            self._b_index[h], self._b_wall[h] = index, wall
            self._b_min[h] = self._b_max[h] = value
            self._b_sum[h], self._b_n[h] = 0.0, 0
        self._b_min[h] = min(self._b_min[h], value)
        self._b_max[h] = max(self._b_max[h], value)
        self._b_sum[h] += value
        self._b_n[h] += 1

    def raw(self) -> list[tuple[float, float, float]]:
        """(monotonic, wall, value), oldest first."""
        cap = len(self._raw_val)
        start = (self._raw_head - self._raw_count) % cap
        idx = [(start + i) % cap for i in range(self._raw_count)]
        return [(self._raw_mono[i], self._raw_wall[i], self._raw_val[i]) for i in idx]

    def buckets(self) -> list[tuple[float, float, float, float, int]]:
        """(wall time of the bucket's first sample, min, mean, max, samples), oldest first."""
        cap = len(self._b_index)
        start = (self._b_head - self._b_count + 1) % cap
        out = []
        for i in ((start + k) % cap for k in range(self._b_count)):
            n = self._b_n[i]
            out.append((self._b_wall[i], self._b_min[i], self._b_sum[i] / n if n else math.nan, self._b_max[i], n))
        return out


class History:
    """One Series per (device, value); the sample period fixes how many raw samples an hour holds."""

    def __init__(self, config: HistoryConfig = HistoryConfig()):
        self.config = config
        self._series: dict[tuple[str, str], Series] = {}
        self._lock = threading.Lock()

    def add(self, device: str, name: str, value: float, mono: float, wall: float, period_s: float) -> None:
        key = (device, name)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                c = self.config
                series = self._series[key] = Series(
                    raw_capacity=max(2, math.ceil(c.raw_seconds / max(period_s, 0.1)) + 1),
                    buckets=math.ceil(c.window_s / c.bucket_s) + 1, bucket_s=c.bucket_s)
            series.add(float(value), mono, wall)

    def to_dict(self, units: dict[tuple[str, str], str] | None = None) -> dict:
        """The whole history as compact JSON-able data (see encode_raw and encode_buckets)."""
        out: dict = {}
        with self._lock:
            for (device, name), s in sorted(self._series.items()):
                raw = [(w, v) for _, w, v in s.raw()]
                first_raw = raw[0][0] if raw else math.inf
                # Buckets cover what the raw samples do not: the window beyond the last hour.
                buckets = [b for b in s.buckets() if b[0] < first_raw]
                out.setdefault(device, {})[name] = {"unit": (units or {}).get((device, name), ""),
                                                    "raw": encode_raw(raw), "buckets": encode_buckets(buckets)}
        return out

    def __len__(self) -> int:
        return len(self._series)


# The report's encoding: columns, times as a start and deltas (0.1 s), bucket statistics to four
# significant digits. Regular polling makes the deltas repeat, so the whole compresses to a quarter.
def _deltas(times: list[float]) -> dict:
    t = [round(x, 1) for x in times]
    return {"t0": t[0] if t else None, "dt": [round(b - a, 1) for a, b in zip(t, t[1:])]}


def _times(block: dict) -> list[float]:
    out, t = [], block.get("t0")
    if t is None:
        return out
    out.append(t)
    for d in block["dt"]:
        t = round(t + d, 1)
        out.append(t)
    return out


def significant(x: float, digits: int = 4) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def encode_raw(points: list[tuple[float, float]]) -> dict:
    return dict(_deltas([t for t, _ in points]), v=[v for _, v in points])


def decode_raw(block: dict) -> list[tuple[float, float]]:
    return list(zip(_times(block), block.get("v", [])))


def encode_buckets(buckets: list[tuple]) -> dict:
    """Buckets (wall, min, mean, max, samples) as columns."""
    return dict(_deltas([b[0] for b in buckets]), min=[significant(b[1]) for b in buckets],
                mean=[significant(b[2]) for b in buckets], max=[significant(b[3]) for b in buckets],
                n=[b[4] for b in buckets])


def decode_buckets(block: dict) -> list[tuple]:
    return list(zip(_times(block), block.get("min", []), block.get("mean", []), block.get("max", []),
                    block.get("n", [])))
