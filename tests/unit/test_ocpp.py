"""The OCPP delegate (issue 15, first part): a CSMS's GetLog / GetDiagnostics handed over by the firmware, answered
at once, the report uploaded to the request's location (FTPS with a broken link resumed, HTTPS PUT and POST),
retries on an injected clock, a second request cancelling the first, bad locations refused."""

from __future__ import annotations

import json

import pytest

from agent.channels.ocpp import OcppDelegate, check_log_request
from agent.transports.upload import UploadError, parse_location
from rigs import peers

SECRET = "upload-secret"


def export(_request):
    return "20261126T000000Z-00000000", b"\x1f\x8b" + b"report" * 100


def test_an_unreachable_location_fails_after_its_retries_on_the_injected_clock():
    waited: list[float] = []
    delegate = OcppDelegate(
        export, "BOX-1", deadline_s=5, sleep=lambda stop, s: waited.append(s) or False
    )  # the clock: no real waiting
    closed = peers.free_port()
    answer = delegate.request(
        {"request_id": 5, "location": f"ftp://127.0.0.1:{closed}/", "retries": 2, "retry_interval": 30}
    )
    assert answer["status"] == "Accepted"
    events = peers.wait_for(
        lambda: (e := delegate.events()[0]) and e[-1]["status"] == "UploadFailure" and e, 20, "the failure"
    )
    assert [e["status"] for e in events] == ["Uploading"] * 3 + ["UploadFailure"] and waited == [30.0, 30.0]
    assert "ConnectionRefusedError" in events[-1]["info"]


def test_1_6_getdiagnostics_says_uploadfailed_and_credentials_never_show():
    delegate = OcppDelegate(export, "BOX-1", deadline_s=2, sleep=lambda stop, s: False)
    delegate.request({"message": "GetDiagnostics", "location": f"ftp://u:{SECRET}@127.0.0.1:{peers.free_port()}/"})
    events = peers.wait_for(lambda: (e := delegate.events()[0]) and e[-1]["status"] != "Uploading" and e, 20, "failure")
    assert events[-1]["status"] == "UploadFailed" and events[-1]["request_id"] == 0
    assert SECRET not in json.dumps(events)
    with pytest.raises(UploadError, match="at most 512"):
        parse_location("ftp://h/" + "x" * 520)


def test_the_report_is_cut_to_the_requests_time_window():
    from agent.devices.history import History, HistoryConfig, decode_buckets, decode_raw
    from agent.report.sections import faults, history, logs

    t = 1795680000.0  # 2026-11-26 08:00:00 UTC
    recorded = History(HistoryConfig(raw_seconds=5))  # two raw samples at 5 s; the older ones as buckets
    for wall in (t - 7200, t - 5000, t - 3000, t - 30):
        recorded.add("meter", "voltage_l1", 230.0, wall - t + 7200, wall, 5.0)
    cut = history.window(recorded.freeze(), t - 6000, t).to_dict()
    assert [b[0] for b in decode_buckets(cut["meter"]["voltage_l1"]["buckets"])] == [t - 5000]
    assert [p[0] for p in decode_raw(cut["meter"]["voltage_l1"]["raw"])] == [t - 3000, t - 30]
    events = {"active": [{"code": "phase_lost"}], "timeline": [{"wall": t - 7200}, {"wall": t - 10}, {"wall": t + 10}]}
    assert faults.window(events, t - 3600, t) == {"active": [{"code": "phase_lost"}], "timeline": [{"wall": t - 10}]}
    lines = {
        "agent": [
            "2026-11-26 06:00:00,001 INFO old",
            "2026-11-26 07:59:00,001 ERROR new",
            "Traceback: kept with it",
            "2026-11-26 08:30:00,000 INFO after",
        ],
        "_truncated_by_hook": ["note"],
    }
    assert logs.window(lines, t - 3600, t) == {
        "agent": ["2026-11-26 07:59:00,001 ERROR new", "Traceback: kept with it"],
        "_truncated_by_hook": ["note"],
    }


def test_the_security_log_is_bounded_windowed_and_notices_clock_jumps(tmp_path, make_config):
    from agent import security
    from agent.config import load

    now = [1795680000.0]
    sec = security.SecurityLog(tmp_path, clock=lambda: now[0])
    for _ in range(security.PER_KIND_PER_HOUR + 20):  # a flood of refusals: counted, not written line by line
        sec.record("page_token_refused", "no valid token")
    assert len(sec.events()) == security.PER_KIND_PER_HOUR
    now[0] += 3601
    sec.record("page_token_refused", "no valid token")
    assert sec.events()[-1]["before_this"] == "20 more not written"
    sec.check_clock(mono=100.0)
    now[0] += 10 + 3600  # the wall clock moved an hour more than the monotonic one: an NTP step, a hand
    sec.check_clock(mono=110.0)
    assert sec.events()[-1]["kind"] == "clock_jump" and "+3600 s" in sec.events()[-1]["message"]
    assert [e["kind"] for e in sec.events(oldest=now[0] - 1)] == ["clock_jump"]
    cfg = load(make_config())
    sec.config_loaded(cfg)
    sec.config_loaded(cfg)  # the same configuration again: nothing new
    cfg.poll.interval_s = 7
    sec.config_loaded(cfg)
    assert [e["message"] for e in sec.events() if e["kind"] == "config_changed"] == [
        "first start with this configuration",
        "the configuration differs from the one last run",
    ]
    big = security.SecurityLog(tmp_path / "big", clock=lambda: now[0])
    (tmp_path / "big").mkdir()
    for i in range(4000):
        big.record(f"kind{i}", "x" * 200)
    assert big.path.stat().st_size <= security.MAX_BYTES and big.events()[-1]["kind"] == "kind3999"


def test_no_attempt_starts_after_the_total_deadline_and_every_status_is_passed_on():
    now = [0.0]
    heard: list[dict] = []

    def wait(stop, seconds):  # the injected clock: waiting moves it
        now[0] += seconds
        return False

    delegate = OcppDelegate(
        export, "BOX-1", deadline_s=2, sleep=wait, clock=lambda: now[0], total_deadline_s=100, on_event=heard.append
    )
    delegate.request(
        {"request_id": 3, "location": f"ftp://127.0.0.1:{peers.free_port()}/", "retries": 10, "retry_interval": 60}
    )
    events = peers.wait_for(lambda: (e := delegate.events()[0]) and e[-1]["status"] != "Uploading" and e, 20, "the end")
    assert [e["status"] for e in events] == ["Uploading"] * 2 + ["UploadFailure"]  # at 0 s and 60 s; 120 s > 100 s
    assert "total deadline of 100 s" in events[-1]["info"] and heard == events


def test_a_reader_counting_on_loses_nothing_when_old_statuses_are_let_go():
    delegate = OcppDelegate(export, "BOX-1")
    req = check_log_request({"request_id": 1, "location": "ftp://127.0.0.1/"})
    for i in range(250):
        delegate._emit(req, "Uploading", str(i))
    events, following = delegate.events(240)
    assert [e["info"] for e in events] == [str(i) for i in range(240, 250)] and following == 250
    assert delegate.events(following) == ([], 250)
