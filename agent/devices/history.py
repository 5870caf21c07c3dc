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
from itertools import pairwise


@dataclass(frozen=True)
class HistoryConfig:
    raw_seconds: float = 3600.0
    bucket_s: float = 60.0
    window_s: float = 24 * 3600.0


class Series:
    """One value's rings. Raw: wall time and value (16 bytes a sample). Buckets: the wall second of the first
    sample, min, max and sum as float32 (reports keep the unit's resolution), the count (18 bytes a
    bucket). Only the newest bucket's number on the monotonic clock matters: it says when the next begins."""

    def __init__(self, raw_capacity: int, buckets: int, bucket_s: float, period_s: float = 0.0):
        self.bucket_s, self.period_s = bucket_s, period_s
        self._raw_wall, self._raw_val = array("d", bytes(8 * raw_capacity)), array("d", bytes(8 * raw_capacity))
        self._raw_head = self._raw_count = 0
        self._b_wall = array("I", bytes(4 * buckets))
        self._b_min, self._b_max = array("f", bytes(4 * buckets)), array("f", bytes(4 * buckets))
        self._b_sum, self._b_n = array("f", bytes(4 * buckets)), array("H", bytes(2 * buckets))
        self._b_head = -1
        self._b_count = 0
        self._b_index = -1

    def add(self, value: float, mono: float, wall: float) -> None:
        self.add_raw(wall, value)
        index = math.floor(mono / self.bucket_s)
        h = self._b_head
        if h < 0 or self._b_index != index:
            h = self._next_bucket(wall)
            self._b_index = index
            self._b_min[h] = self._b_max[h] = value
        self._b_min[h] = min(self._b_min[h], value)
        self._b_max[h] = max(self._b_max[h], value)
        self._b_sum[h] += value
        self._b_n[h] = min(self._b_n[h] + 1, 65535)

    def add_raw(self, wall: float, value: float) -> None:
        cap = len(self._raw_val)
        self._raw_wall[self._raw_head], self._raw_val[self._raw_head] = wall, value
        self._raw_head = (self._raw_head + 1) % cap
        self._raw_count = min(self._raw_count + 1, cap)

    def _next_bucket(self, wall: float) -> int:
        h = self._b_head = (self._b_head + 1) % len(self._b_wall)
        self._b_count = min(self._b_count + 1, len(self._b_wall))
        self._b_wall[h] = max(0, min(int(wall), 2**32 - 1))
        self._b_sum[h], self._b_n[h] = 0.0, 0
        return h

    def add_bucket(self, wall: float, low: float, mean: float, high: float, n: int) -> None:
        """A bucket restored from an earlier run: the next sample of this run begins a bucket of its own."""
        h = self._next_bucket(wall)
        self._b_index = -1  # never a number of this run's monotonic clock (those are >= 0)
        self._b_min[h] = low
        self._b_max[h] = high
        self._b_sum[h] = mean * n
        self._b_n[h] = min(n, 65535)

    def raw(self) -> list[tuple[float, float]]:
        """(wall, value), oldest first."""
        cap = len(self._raw_val)
        start = (self._raw_head - self._raw_count) % cap
        return [(self._raw_wall[i], self._raw_val[i]) for i in ((start + k) % cap for k in range(self._raw_count))]

    def buckets(self) -> list[tuple[float, float, float, float, int]]:
        """(wall time of the bucket's first sample, min, mean, max, samples), oldest first."""
        cap = len(self._b_wall)
        start = (self._b_head - self._b_count + 1) % cap
        out = []
        for i in ((start + k) % cap for k in range(self._b_count)):
            n = self._b_n[i]
            out.append(
                (float(self._b_wall[i]), self._b_min[i], self._b_sum[i] / n if n else math.nan, self._b_max[i], n)
            )
        return out

    def encoded(self, unit: str = "", thin: int = 0, merge: int = 0, inside=None) -> dict:
        """This series as the report has it: raw samples (every 2**THIN-th), and the buckets (2**MERGE merged)
        from before the first raw sample; INSIDE, when given, keeps the times it is true for."""
        raw = self.raw()[:: 2**thin]
        first_raw = raw[0][0] if raw else math.inf
        buckets = [b for b in self.buckets() if b[0] < first_raw]  # buckets cover what the raw do not
        for _ in range(merge):
            buckets = merge_pairs(buckets)
        if inside is not None:
            raw, buckets = [p for p in raw if inside(p[0])], [b for b in buckets if inside(b[0])]
        return {"buckets": encode_buckets(buckets, unit), "raw": encode_raw(raw, unit), "unit": unit}


class History:
    """One Series per (device, value); the sample period fixes how many raw samples an hour holds."""

    def __init__(self, config: HistoryConfig = HistoryConfig()):
        self.config = config
        self._series: dict[tuple[str, str], Series] = {}
        self._lock = threading.Lock()
        self.units: dict[tuple[str, str], str] = {}  # (device, value) -> unit, from the devices' profiles

    def _get(self, device: str, name: str, period_s: float) -> Series:
        series = self._series.get((device, name))
        if series is None:
            c = self.config
            series = self._series[(device, name)] = Series(
                raw_capacity=max(2, math.ceil(c.raw_seconds / max(period_s, 0.1)) + 1),
                buckets=math.ceil(c.window_s / c.bucket_s) + 1,
                bucket_s=c.bucket_s,
                period_s=period_s,
            )
        return series

    def add(self, device: str, name: str, value: float, mono: float, wall: float, period_s: float) -> None:
        with self._lock:
            self._get(device, name, period_s).add(float(value), mono, wall)

    def restore(self, device: str, name: str, period_s: float, block: dict, oldest: float) -> None:
        """Put back a series from a checkpoint of an earlier run (encoded as in a report), before any new sample."""
        with self._lock:
            series = self._get(device, name, period_s)
            for b in decode_buckets(block.get("buckets", {})):
                if b[0] >= oldest and b[4]:
                    series.add_bucket(*b)
            for wall, value in decode_raw(block.get("raw", {})):
                if wall >= oldest:
                    series.add_raw(wall, value)

    def recent(self, devices: list[str] | None, since: float) -> dict:
        """The raw samples from SINCE (wall time) of DEVICES (all, when none of them is polled: a firmware
        or a box fault): {device: {name: {unit, raw}}}."""
        out: dict = {}
        with self._lock:
            known = {d for d, _ in self._series}
            wanted = set(devices or ()) & known or known
            for (device, name), s in sorted(self._series.items()):
                if device in wanted:
                    raw = [p for p in s.raw() if p[0] >= since]
                    unit = self.units.get((device, name), "")
                    out.setdefault(device, {})[name] = {"unit": unit, "raw": encode_raw(raw, unit)}
        return out

    def freeze(self, units: dict[tuple[str, str], str] | None = None, earlier_until: float | None = None) -> Frozen:
        """A copy that the poller does not change any more, for one report (about 2.3 MB at 1 Hz with two devices)."""
        with self._lock:
            copies = {key: _copy(s) for key, s in sorted(self._series.items())}
        return Frozen(copies, units or self.units, earlier_until)

    def to_dict(self, units: dict[tuple[str, str], str] | None = None) -> dict:
        return self.freeze(units).to_dict()

    def __len__(self) -> int:
        return len(self._series)


def _copy(s: Series) -> Series:
    c = Series.__new__(Series)
    c.__dict__ = {k: (v[:] if isinstance(v, array) else v) for k, v in s.__dict__.items()}
    return c


class Frozen:
    """The history as one report sees it: encoded series by series as it is written (never all at once),
    thinned or merged when the report is over its size cap, cut to a time window for an OCPP request."""

    def __init__(self, series: dict, units: dict, earlier_until: float | None = None):
        self._series, self._units = series, units
        self.earlier_until = earlier_until  # samples up to then come from before the agent's last restart
        self.thin = self.merge = 0
        self.inside = None

    def __bool__(self) -> bool:
        return bool(self._series)

    def __deepcopy__(self, memo) -> Frozen:
        c = Frozen(self._series, self._units, self.earlier_until)
        c.thin = self.thin
        c.merge = self.merge
        c.inside = self.inside
        return c

    def devices(self) -> list[str]:
        return sorted({d for d, _ in self._series})

    def names(self, device: str) -> list[str]:
        return [n for d, n in self._series if d == device]

    def series(self, device: str, name: str) -> dict:
        s = self._series[(device, name)]
        return s.encoded(self._units.get((device, name), ""), self.thin, self.merge, self.inside)

    def items(self):
        """(device, name, encoded series), in the report's order."""
        for device, name in self._series:
            yield device, name, self.series(device, name)

    def write_json(self, f) -> None:
        """The report's history.json, written series by series (compact JSON, keys sorted)."""
        import json

        f.write(b"{")
        for i, device in enumerate(self.devices()):
            f.write(b"," if i else b"")
            f.write(json.dumps(device).encode() + b":{")
            for j, name in enumerate(sorted(self.names(device))):
                body = json.dumps(self.series(device, name), separators=(",", ":"), sort_keys=True)
                f.write((b"," if j else b"") + json.dumps(name).encode() + b":" + body.encode())
            f.write(b"}")
        f.write(b"}\n")

    def to_dict(self) -> dict:
        out: dict = {}
        for device, name, block in self.items():
            out.setdefault(device, {})[name] = block
        return out

    def raw_blocks(self):
        """(device, name, period_s, every raw sample and every bucket): what a checkpoint keeps."""
        for (device, name), s in self._series.items():
            unit = self._units.get((device, name), "")
            yield (
                device,
                name,
                s.period_s,
                {"raw": encode_raw(s.raw(), unit), "buckets": encode_buckets(s.buckets(), unit)},
            )

    def counts(self) -> tuple[int, int]:
        """The most raw samples and the most buckets of any series, as the report has them now."""
        step = 2**self.thin
        most_raw = max((-(-s._raw_count // step) for s in self._series.values()), default=0)
        most_buckets = max((-(-s._b_count // 2**self.merge) for s in self._series.values()), default=0)
        return most_raw, most_buckets


def merge_pairs(buckets: list[tuple]) -> list[tuple]:
    """Two neighbouring buckets as one: lowest low, weighted mean, highest high, summed counts."""
    out = []
    for i in range(0, len(buckets) - 1, 2):
        (w, lo1, m1, hi1, n1), (_, lo2, m2, hi2, n2) = buckets[i], buckets[i + 1]
        n = n1 + n2
        out.append((w, min(lo1, lo2), (m1 * n1 + m2 * n2) / n if n else m1, max(hi1, hi2), n))
    if len(buckets) % 2:
        out.append(buckets[-1])
    return out


# The report's encoding: columns; times as a start and deltas (0.1 s); values as integers at the unit's
# resolution, each the difference to the one before. Regular polling makes the time deltas repeat and a
# steady reading makes the value deltas small, so the whole compresses well. A column holding a value that
# is not a number (NaN) keeps plain floats ("v"); readers take both, and the floats of older files.
# Power in steps of 10 W (VA, var): what a meter's display shows at charging loads (11.04 kW), finer than a
# class 1 meter's error above 1 kW; at 1 W, a day's buckets were a third of a report for digits that are noise.
RESOLUTION = {
    **{"V": 0.1, "A": 0.01, "Hz": 0.01, "%": 0.1, "s": 0.1},
    **{"W": 10.0, "VA": 10.0, "var": 10.0, "kWh": 0.001, "kvarh": 0.001},
}
DEFAULT_RESOLUTION = 0.001  # power factors, states and values of units the table does not name


def resolution(unit: str | None) -> float:
    """What a report keeps of a value of UNIT: finer than the meters' accuracy class, no finer."""
    return RESOLUTION.get(unit or "", DEFAULT_RESOLUTION)


def _deltas(times: list[float]) -> dict:
    t = [round(x, 1) for x in times]
    return {"t0": t[0] if t else None, "dt": [round(b - a, 1) for a, b in pairwise(t)]}


def _times(block: dict) -> list[float]:
    out: list[float] = []
    t = block.get("t0")
    if t is None:
        return out
    out.append(t)
    for d in block["dt"]:
        t = round(t + d, 1)
        out.append(t)
    return out


def _column(values: list[float], res: float) -> dict:
    """VALUES as integer steps of RES: the first, then the differences."""
    if not all(math.isfinite(v) for v in values):
        return {"v": values}
    q = [round(v / res) for v in values]
    return {"q0": q[0] if q else None, "dq": [b - a for a, b in pairwise(q)]}


def _values(column: dict | list, res: float) -> list[float]:
    if isinstance(column, list):  # older files: plain floats
        return column
    if "v" in column:
        return column["v"]
    digits = max(0, -math.floor(math.log10(res) + 1e-9))
    q, out = column.get("q0"), list[float]()
    if q is None:
        return out
    out.append(round(q * res, digits))
    for d in column["dq"]:
        q += d
        out.append(round(q * res, digits))
    return out


def encode_raw(points: list[tuple[float, float]], unit: str | None = None) -> dict:
    res = resolution(unit)
    return dict(_deltas([t for t, _ in points]), res=res, **_column([v for _, v in points], res))


def decode_raw(block: dict) -> list[tuple[float, float]]:
    values = _values(block, block.get("res", DEFAULT_RESOLUTION))
    return list(zip(_times(block), values, strict=False))  # a short block (a torn checkpoint) is cut


def encode_buckets(buckets: list[tuple], unit: str | None = None) -> dict:
    """Buckets (wall, min, mean, max, samples) as columns."""
    res = resolution(unit)
    return dict(
        _deltas([b[0] for b in buckets]),
        res=res,
        min=_column([b[1] for b in buckets], res),
        mean=_column([b[2] for b in buckets], res),
        max=_column([b[3] for b in buckets], res),
        n=[b[4] for b in buckets],
    )


def decode_buckets(block: dict) -> list[tuple]:
    res = block.get("res", DEFAULT_RESOLUTION)
    return list(
        zip(
            _times(block),
            _values(block.get("min", []), res),
            _values(block.get("mean", []), res),
            _values(block.get("max", []), res),
            block.get("n", []),
            strict=False,
        )
    )
