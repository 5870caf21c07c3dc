"""The system report: complete, redacted, within its size cap, deterministic, and readable in a browser."""

from __future__ import annotations

import io
import random
import re
import tarfile

from agent import config
from agent.collect import Box
from agent.devices.history import History
from agent.health.hooks import HookResult
from agent.redact import Redactor
from agent.report.build import build, collect_sections
from agent.report.bundle import read_bundle
from agent.report.sections.history import read as read_history
from agent.request import ReportRequest
from agent.watch.checks import judged

CANARIES = {
    "mqtt": "CANARY-mqtt-7731",
    "url": "CANARY-url-5521",
    "ftp": "CANARY-ftp-1122",
    "token": "CANARY-token-9981",
    "declared": "CANARY-declared-3344",
}


def members_of(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def test_log_lines_are_scrubbed_of_configured_secrets():
    import logging

    from agent.redact import SecretFilter

    record = logging.LogRecord(
        "x", logging.WARNING, "f", 1, "connect to mqtt://box:%s@host as %s", ("hunter22", "CANARY-mqtt-7731"), None
    )
    SecretFilter(["CANARY-mqtt-7731"]).filter(record)
    assert record.getMessage() == "connect to mqtt://box:[REDACTED]@host as [REDACTED]"


def test_over_the_cap_oldest_log_lines_go_first_then_history_resolution(tmp_path, make_config):
    cfg = config.load(make_config(extra={"report": {"max_bytes": 20_000}}))
    history, noise = History(), random.Random(7)
    for i in range(3 * 720):  # three hours at 5 s of 12 noisy values
        t = 1000.0 + 5 * i
        for n in range(12):
            history.add("meter", f"value_{n}", round(noise.uniform(200, 260), 3), t, 1.79e9 + t, 5.0)
    log = [f"2026-11-25 08:{i // 60 % 60:02d}:{i % 60:02d} line {i} {'x' * (i * 31 % 50)}" for i in range(20_000)]
    sections = collect_sections(cfg, judged(cfg, Box({}, fake_health(), history=history.freeze(), agent_log=log)))
    out = io.BytesIO()
    manifest = build(out, cfg, ReportRequest(subject="cap"), sections, "20261125T080000Z-00000001", 1.79e9, 5.0)
    assert out.tell() <= 20_000
    whats = [c["what"] for c in manifest["cuts"]]
    first_history = next(i for i, w in enumerate(whats) if w.startswith("history"))
    assert whats[0].startswith("log agent: oldest") and all(w.startswith("log") for w in whats[:first_history])
    _, members = read_bundle(out.getvalue())
    assert {"manifest.json", "summary.json", "report.html"} <= set(members)
    assert members["log-agent.txt"].decode().splitlines()[-1] == log[-1]  # the newest lines stay


def fake_health(**hooks) -> dict:
    return {
        "hooks": {n: HookResult(n, True, output=o) for n, o in hooks.items()},
        "system": {
            "memory": {"used_percent": 20.0},
            "disk": {"used_percent": 10.0, "free_mb": 5000},
            "clock_synced": True,
            "soc_temperature_c": 48.0,
        },
        "network": {
            "checked": True,
            "failed_step": None,
            "steps": {"link": {"ok": True, "detail": "eth0 aa:bb:cc:dd:ee:ff 192.168.7.23"}},
        },
        "software": {
            "firmware_version": "2.4.1",
            "channel": "stable",
            "agent_version": "0.1.0",
            "current": True,
            "latest": {"version": "2.4.1"},
            "firmware_hook_error": None,
        },
    }


def test_the_same_inputs_give_the_same_bytes(tmp_path, make_config):
    cfg = config.load(make_config())
    sections = collect_sections(cfg, judged(cfg, Box({}, fake_health(firmware_version={"version": "2.4.1"}))))
    outs = []
    for _ in range(2):
        out = io.BytesIO()
        build(out, cfg, ReportRequest(subject="same"), sections, "20261125T080000Z-00000002", 1.79e9, 7.0)
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
    assert next(iter(members_of(outs[0]))) == "manifest.json"


def test_pseudonyms_are_consistent_and_leave_loopback_alone(tmp_path, make_config):
    cfg = config.load(make_config(extra={"report": {"pseudonymise": True}}))
    texts = []
    for rid in ("20261125T080000Z-00000003", "20261125T080000Z-00000004"):
        out = io.BytesIO()
        sections = collect_sections(
            cfg, judged(cfg, Box({}, fake_health(car={"vehicle_id": "WVW-123", "peer": "127.0.0.1"})))
        )
        build(out, cfg, ReportRequest(), sections, rid, 1.79e9, 7.0)
        texts.append(
            members_of(out.getvalue())["network.json"].decode() + members_of(out.getvalue())["hooks.json"].decode()
        )
    assert "192.168.7.23" not in texts[0] and "aa:bb:cc:dd:ee:ff" not in texts[0] and "WVW-123" not in texts[0]
    pseudonyms = sorted(set(re.findall(r"(?:ip|mac|vehicle)-[0-9a-f]{10}", texts[0])))
    assert len(pseudonyms) == 3
    assert pseudonyms == sorted(set(re.findall(r"(?:ip|mac|vehicle)-[0-9a-f]{10}", texts[1])))
    assert "127.0.0.1" in texts[0]


def test_redactor_masks_keys_but_not_yes_or_no_answers():
    r = Redactor()
    data = r.data(
        {
            "mqtt": {"password": "x1", "username": "box"},
            "cloud_credentials": {"configured": True},
            "counts": {"pass": 3},
            "api_key": None,
        },
        "config",
    )
    assert data == {
        "mqtt": {"password": "[REDACTED]", "username": "box"},
        "cloud_credentials": {"configured": True},
        "counts": {"pass": 3},
        "api_key": None,
    }
    assert r.summary() == [{"where": "config", "how": "key password", "count": 1}]


def test_section_names_are_known_without_loading_the_sections():
    from agent.report import sections

    assert sorted(m.NAME for m in sections.SECTIONS) == list(sections.SECTION_NAMES)
    assert all(m.__name__.rsplit(".", 1)[1] == m.NAME for m in sections.SECTIONS)


def test_fault_labels_on_a_chart_never_overprint():
    """Ten faults raised within seconds: each label in a row with room for it, or no label (its line and its
    tooltip stay); the legend's colour is its line's."""
    from agent.report.charts import EVENT_GAP_PX, chart

    line = [(1000.0 + i, 230.0 + i % 3) for i in range(600)]
    events = [{"kind": "raised", "wall": 1100.0 + 2 * i, "code": f"fault_{i}", "message": "m"} for i in range(10)]
    svg = chart("Voltage", "V", {"meter voltage_l1": line}, events, False)
    labels = [(float(x), float(y)) for x, y in re.findall(r"<text x='([\d.]+)' y='([\d.]+)' fill='#b00020'>", svg)]
    assert 1 <= len(labels) < 10 and svg.count("<g class='fault'>") == 10
    for i, (x1, y1) in enumerate(labels):
        for x2, y2 in labels[i + 1 :]:
            assert y1 != y2 or abs(x1 - x2) >= EVENT_GAP_PX, labels
    assert re.search(r"stroke='(#\w+)' d=.*<text class='legend'[^>]*fill='\1'", svg)


def _absolute(d: str) -> list[tuple[int, int]]:
    """The points an SVG path of M, l, h and v commands passes through."""
    x = y = 0
    points = []
    for cmd, args in re.findall(r"([Mlhv])([-\d ]+)", d):
        n = [int(a) for a in args.split()]
        if cmd == "M":
            x, y = n
        elif cmd == "l":
            x, y = x + n[0], y + n[1]
        elif cmd == "h":
            x += n[0]
            continue  # a state's level run: its end is the next point's x
        else:
            y += n[0]
        points.append((x, y))
    return points


def test_a_chart_line_passes_through_each_pixel_columns_lowest_and_highest_point():
    """The relative path (a day's chart in a few kB) draws what the plain points did: per pixel column the
    lowest and the highest value, in whole pixels; a state as steps."""
    from agent.report.charts import PAD_B, PAD_T, H, chart

    line = [(1000.0 + i, 230.0 + 10 * (i % 2)) for i in range(5000)]
    svg = chart("Voltage", "V", {"v": line}, [], False)
    points = _absolute(re.search(r" d='([^']*)'", svg).group(1))
    assert 2 * 830 <= len(points) <= 2 * 831  # two a pixel column (830 px wide, both ends): the page stays small
    assert {y for _, y in points} == {PAD_T, H - PAD_B}  # the highest and the lowest value in every column
    assert all(b[0] - a[0] in (0, 1) for a, b in zip(points, points[1:], strict=False))
    steps = chart("State", "", {"s": [(0.0, 1.0), (50.0, 2.0), (100.0, 1.0)]}, [], True)
    d = re.search(r" d='([^']*)'", steps).group(1)
    assert re.fullmatch(r"M\d+ \d+(h\d+v-?\d+)+", d), d  # level, then up or down: never a slope


def test_a_follow_up_leaves_out_the_history_its_case_holds_and_says_so(tmp_path, make_config):
    from agent.devices.history import decode_buckets, decode_raw
    from agent.outbox import Outbox
    from agent.report.build import make_report

    cfg = config.load(make_config())
    history = History()
    for i in range(7200):  # two hours at 1 Hz, ending now
        t = 1000.0 + i
        history.add("meter", "voltage_l1", 230.0 + (i % 7) / 10, t, 1.79e9 - 7200 + i, 1.0)
    history.units = {("meter", "voltage_l1"): "V"}
    box = judged(cfg, Box({}, fake_health(), history=history.freeze()))
    outbox = Outbox(tmp_path / "outbox")
    first = make_report(cfg, ReportRequest(subject="first of the case"), box, outbox)
    receipt = {"report_id": first.report_id, "case": "CASE-7", "priority": "low", "attached": False}
    # Made half an hour before the end of the history, delivered to CASE-7.
    first = outbox.update(first.report_id, lambda e: e.__dict__.update(created=1.79e9 - 1800, receipt=receipt))

    # A later report of the case that carried no history (support asked for the logs only) holds none.
    logs_only = make_report(cfg, ReportRequest(subject="logs", case_ref="CASE-7", sections=["logs"]), box, outbox)
    outbox.update(logs_only.report_id, lambda e: setattr(e, "receipt", dict(receipt, report_id=e.report_id)))

    other = make_report(cfg, ReportRequest(subject="another case", case_ref="CASE-8"), box, outbox)
    manifest, members = read_bundle(outbox.bundle_path(other.report_id).read_bytes())
    assert "history_omitted" not in manifest  # that case holds nothing of this box yet

    follow = make_report(cfg, ReportRequest(subject="more on it", case_ref="CASE-7"), box, outbox)
    manifest, members = read_bundle(outbox.bundle_path(follow.report_id).read_bytes())
    assert manifest["history_omitted"]["held_by"] == first.report_id
    assert manifest["history_omitted"]["before"] == "2026-09-21T13:43:20+00:00"  # 1.79e9 - 1800, in UTC
    series = read_history(members)["meter"]["voltage_l1"]
    walls = [w for w, _ in decode_raw(series["raw"])] + [b[0] for b in decode_buckets(series["buckets"])]
    assert walls and min(walls) >= first.created and len(walls) <= 1801


def test_a_state_chart_over_a_day_names_only_states_never_a_mean_of_them():
    """A minute bucket of a vehicle state that went from B to C has a mean of 2.5: no state. The chart shows
    the lowest and the highest state of each minute, each by its letter."""
    from agent.devices.history import encode_buckets, encode_raw
    from agent.report.charts import chart, series_points

    buckets = [(1000.0 + 60 * i, 1.0 + i % 2, 1.5 + i % 2, 2.0 + i % 2, 60) for i in range(100)]
    block = {"buckets": encode_buckets(buckets), "raw": encode_raw([(7000.0 + i, 2.0) for i in range(60)])}
    svg = chart(
        "Vehicle state", "", {"s": series_points(block, state=True)}, [], True, letters={1.0: "A", 2.0: "B", 3.0: "C"}
    )
    assert re.findall(r"<text class='axis' x='4'[^>]*>([^<]*)<", svg) == ["A", "B", "C"]
    assert {v for _, v in series_points(block)} > {1.5, 2.5}  # a measured value keeps its means
