"""report.html's charts: inline SVG over time, one colour per line with a legend in that colour, fault events
marked on the time axis in rows so their labels never overprint, a state drawn as steps with its IEC letters."""

from __future__ import annotations

import html
from dataclasses import dataclass
from itertools import pairwise

from agent.devices.history import decode_buckets, decode_raw
from agent.lang import when

EVENT_ROWS, EVENT_GAP_PX = 3, 80  # fault labels on the time axis: rows, and the room each label needs


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _ts(wall: float | None, zone: str = "UTC", seconds: bool = True) -> str:
    return when(wall, zone, seconds) if wall else "?"


CHARTS = (  # title, unit, value names (first device that has them), step drawing for states
    ("Voltage", "V", ("voltage_l1", "voltage_l2", "voltage_l3"), False),
    ("Current", "A", ("current_l1", "current_l2", "current_l3"), False),
    ("Power", "W", ("total_power",), False),
    ("Vehicle state", "", ("vehicle_state",), True),
)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c")
W = 900
H = 170
PAD_L = 60
PAD_B = 22
PAD_T = 14


def series_points(entry: dict, state: bool = False) -> list[tuple[float, float]]:
    """Bucket means for the window, then the raw samples of the last hour: [(wall time, value)]. A STATE has no
    mean (a third of C is not a state): its buckets give the lowest and the highest state seen."""
    buckets = decode_buckets(entry.get("buckets", {}))
    if state:
        points = [(b[0], v) for b in buckets for v in sorted({b[1], b[3]})]
    else:
        points = [(b[0], b[2]) for b in buckets]
    return points + decode_raw(entry.get("raw", {}))


def chart(
    title: str,
    unit: str,
    lines: dict[str, list[tuple[float, float]]],
    events: list[dict],
    step: bool,
    zone: str = "UTC",
    letters: dict[float, str] | None = None,
) -> str:
    """An inline SVG line chart over time, with fault events marked on the time axis. LETTERS: names for the
    values (the vehicle state's IEC letters), shown on the value axis instead of the numbers."""
    pts = [p for line in lines.values() for p in line]
    if not pts:
        return f"<p class='meta'>{_e(title)}: -</p>"
    frame = _Frame.around(pts)
    parts = [
        f"<svg class='chart' viewBox='0 0 {W} {H}' role='img' aria-label='{_e(title)}'><title>{_e(title)}</title>",
        f"<rect x='{PAD_L}' y='{PAD_T}' width='{W - PAD_L - 10}' height='{H - PAD_T - PAD_B}' "
        "fill='none' stroke='#ccc'/>",
        f"<text class='axis' x='{PAD_L}' y='{H - 6}'>{_ts(frame.t0, zone, False)}</text>",
        f"<text class='axis' x='{W - 10}' y='{H - 6}' text-anchor='end'>{_ts(frame.t1, zone, False)}</text>",
        *_value_axis(frame, unit, letters, {p[1] for p in pts}),
        *_series(frame, lines, step),
        *_events(frame, events),
        "</svg>",
    ]
    return "".join(parts)


@dataclass(frozen=True)
class _Frame:
    """The chart's time and value ranges and the pixel each maps to."""

    t0: float
    t1: float
    v0: float
    v1: float

    @staticmethod
    def around(pts: list[tuple[float, float]]) -> _Frame:
        t0, t1 = min(p[0] for p in pts), max(p[0] for p in pts)
        v0, v1 = min(p[1] for p in pts), max(p[1] for p in pts)
        if v1 - v0 < 1e-9:
            v0, v1 = v0 - 1, v1 + 1
        return _Frame(t0, t1 if t1 > t0 else t0 + 1, v0, v1)

    def x(self, t: float) -> float:
        return PAD_L + (t - self.t0) / (self.t1 - self.t0) * (W - PAD_L - 10)

    def y(self, v: float) -> float:
        return PAD_T + (1 - (v - self.v0) / (self.v1 - self.v0)) * (H - PAD_T - PAD_B)


def _value_axis(frame: _Frame, unit: str, letters: dict[float, str] | None, values: set[float]) -> list[str]:
    if letters:  # a state: each value seen, by its name
        return [
            f"<text class='axis' x='4' y='{frame.y(v) + 4:.1f}'>{_e(letters.get(v, _num(v)))}</text>"
            for v in sorted(values)
        ]
    return [
        f"<text class='axis' x='4' y='{PAD_T + 10}'>{_num(frame.v1)} {_e(unit)}</text>",
        f"<text class='axis' x='4' y='{H - PAD_B}'>{_num(frame.v0)} {_e(unit)}</text>",
    ]


def _series(frame: _Frame, lines: dict[str, list[tuple[float, float]]], step: bool) -> list[str]:
    parts = []
    for i, (name, line) in enumerate(lines.items()):
        kept = _per_pixel(line, frame.x)
        points = [(int(frame.x(t)), round(frame.y(v))) for t, v in kept]  # x: the pixel column _per_pixel kept
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f"<path class='series' data-name='{_e(name)}' fill='none' stroke-width='1.2' "
            f"stroke='{colour}' d='{_path(points, step)}'/>"
        )
        parts.append(
            f"<text class='legend' x='{PAD_L + 6 + 150 * i}' y='{PAD_T + 11}' fill='{colour}'>{_e(name)}</text>"
        )
    return parts


def _events(frame: _Frame, events: list[dict]) -> list[str]:
    """A line per raised fault in the chart's time, labelled in the first row with room (else the line alone)."""
    parts = []
    last_in_row = [-1e9] * EVENT_ROWS
    for ev in events:
        if ev.get("kind") != "raised" or not frame.t0 <= ev["wall"] <= frame.t1:
            continue
        xe = frame.x(ev["wall"])
        row = next((r for r in range(EVENT_ROWS) if xe - last_in_row[r] >= EVENT_GAP_PX), None)
        label = ""
        if row is not None:
            last_in_row[row] = xe
            label = f"<text x='{xe + 2:.1f}' y='{H - PAD_B - 3 - 12 * row}' fill='#b00020'>{_e(ev['code'])}</text>"
        parts.append(
            f"<g class='fault'><title>{_e(ev['code'])}: {_e(ev['message'])}</title>"
            f"<line x1='{xe:.1f}' x2='{xe:.1f}' y1='{PAD_T}' y2='{H - PAD_B}'/>{label}</g>"
        )
    return parts


def _path(points: list[tuple[int, int]], step: bool) -> str:
    """An SVG path through POINTS in whole pixels, each move relative to the one before ("v" straight down or
    up): a day's line in a few kB once compressed. STEP: a state, drawn level until its next value."""
    if not points:
        return ""
    out = [f"M{points[0][0]} {points[0][1]}"]
    for (x0, y0), (x1, y1) in pairwise(points):
        if x1 == x0:
            out.append(f"v{y1 - y0}")
        elif step:
            out.append(f"h{x1 - x0}v{y1 - y0}")
        else:
            out.append(f"l{x1 - x0} {y1 - y0}")
    return "".join(out)


def _per_pixel(line: list[tuple[float, float]], x) -> list[tuple[float, float]]:
    """At most the lowest and the highest point per pixel column: the page stays small, spikes stay."""
    out: list[tuple[float, float]] = []
    column: list[tuple[float, float]] = []
    for p in line:
        if column and int(x(p[0])) != int(x(column[0][0])):
            out += sorted({min(column, key=lambda q: q[1]), max(column, key=lambda q: q[1])})
            column = []
        column.append(p)
    if column:
        out += sorted({min(column, key=lambda q: q[1]), max(column, key=lambda q: q[1])})
    return out


def chart_lines(history, names: tuple[str, ...], state: bool = False) -> tuple[str | None, dict[str, list]]:
    """The first device that has NAMES, and its lines; HISTORY is the report's frozen history (or empty)."""
    for device in history.devices() if history else []:
        found = {
            f"{device} {n}": series_points(history.series(device, n), state)
            for n in names
            if n in history.names(device)
        }
        if found:
            return device, found
    return None, {}


def letters_of(readings: dict, device: str | None) -> dict[float, str] | None:
    """The IEC letters of DEVICE's vehicle state register values (its profile's), or None."""
    states = (readings.get(device or "") or {}).get("vehicle_states") or {}
    return {float(k): v for k, v in states.items()} or None
