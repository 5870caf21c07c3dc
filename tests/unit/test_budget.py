"""The data budget of a metered link: what is counted, when a day and a month begin, what is thinned and what
waits, and that on-site reports and support's answers always go (agent/transports/budget.py)."""

from __future__ import annotations

import json
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent import config
from agent.collect import Box
from agent.config.sections import DataBudget
from agent.devices.history import History, decode_raw
from agent.outbox import Outbox
from agent.report.build import make_report
from agent.report.bundle import read_bundle
from agent.report.sections.history import read as read_history
from agent.request import ReportRequest
from agent.transports import budget as b
from agent.watch.checks import judged
from tests.unit.test_report import fake_health

BERLIN = ZoneInfo("Europe/Berlin")


class Clock:
    def __init__(self, when: datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


def budget(tmp_path, day=100_000, month=1_000_000, when=datetime(2026, 12, 4, 12, 0, tzinfo=BERLIN), rng=0.5):
    clock = Clock(when)
    made = b.Budget(DataBudget(day, month), tmp_path / "budget.json", "Europe/Berlin", clock, lambda: rng)
    return made, clock


def test_what_crosses_the_link_is_counted_with_its_overheads_and_a_report_is_saved_at_once(tmp_path):
    spent, clock = budget(tmp_path)
    spent.count(10_000, exchanges=1)  # a report over HTTPS
    assert spent.use.day_bytes == spent.use.month_bytes == 10_500 + b.EXCHANGE_BYTES
    assert json.loads((tmp_path / "budget.json").read_text())["day_bytes"] == 10_500 + b.EXCHANGE_BYTES
    spent.count(200, messages=1)  # a status message: no write of its own (bounded writes on the SD card)
    assert json.loads((tmp_path / "budget.json").read_text())["day_bytes"] == 10_500 + b.EXCHANGE_BYTES
    clock.now += b.SAVE_EVERY_S
    spent.count(200, messages=1)
    assert json.loads((tmp_path / "budget.json").read_text())["day_bytes"] == spent.use.day_bytes
    again, _ = budget(tmp_path)  # a restart reads the counts back
    assert again.use == spent.use


def test_the_links_keepalives_count_by_the_time_it_is_up(tmp_path):
    spent, clock = budget(tmp_path)
    spent.link(True, keepalive_s=60)
    clock.now += 3600
    assert spent.left()["day"] == 100_000 - 60 * b.PING_BYTES
    spent.link(False)
    clock.now += 3600  # down: no keepalives
    assert spent.left()["day"] == 100_000 - 60 * b.PING_BYTES


def test_a_day_begins_at_the_sites_midnight_and_a_month_on_its_first_and_a_clock_set_back_keeps_the_count(tmp_path):
    spent, clock = budget(tmp_path, when=datetime(2026, 12, 31, 23, 30, tzinfo=BERLIN))
    spent.count(50_000)
    clock.now = datetime(2026, 12, 31, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()  # 00:30 in Berlin: a new day
    assert spent.left() == {"day": 100_000, "month": 1_000_000}  # and a new month
    spent.count(10_000)
    clock.now -= 7200  # an NTP step back to yesterday: today's count stays
    assert spent.left()["day"] == 100_000 - 10_500


def test_a_count_dated_days_ahead_by_a_wrong_clock_ends_when_the_clock_is_right(tmp_path):
    spent, clock = budget(tmp_path, when=datetime(2031, 5, 1, 12, 0, tzinfo=BERLIN))  # a bogus date before NTP
    spent.count(90_000)
    clock.now = datetime(2026, 12, 4, 12, 0, tzinfo=BERLIN).timestamp()
    assert spent.left() == {"day": 100_000, "month": 1_000_000}


def test_under_half_left_thins_and_a_report_without_room_waits_for_the_next_day_spread_over_an_hour(tmp_path):
    spent, clock = budget(tmp_path, rng=0.25)
    assert spent.low() is None and spent.defer(40_000) is None
    spent.count(50_000)  # 52,500 of 100,000: under half left
    assert spent.low() == "day"
    room = 100_000 - 52_500 - 20_000  # what is left above the reserve
    assert b.on_wire(24_761, 1) <= room < b.on_wire(24_763, 1)
    assert spent.defer(24_761) is None and spent.defer(24_763) is not None
    assert spent.defer(20_000) is None  # it fits above the reserve
    until, period = spent.defer(30_000)
    assert period == "day"
    assert until == datetime(2026, 12, 5, 0, 0, tzinfo=BERLIN).timestamp() + 0.25 * b.SPREAD_S
    clock.now = until
    assert spent.defer(30_000) is None  # the new day has room


def test_a_spent_month_defers_to_the_first_of_the_next(tmp_path):
    spent, _ = budget(tmp_path, day=0, month=1_000_000, rng=0.0)
    spent.count(780_000)
    until, period = spent.defer(10_000)
    assert (until, period) == (datetime(2027, 1, 1, tzinfo=BERLIN).timestamp(), "month")


@pytest.mark.parametrize(
    "saved",
    [
        '{"day": 3',
        '{"day": "2026-12-04", "day_bytes": Infinity, "month": "2026-12", "month_bytes": 0}',
        '{"day": "2026-12-04", "day_bytes": -5000000, "month": "2026-12", "month_bytes": -5000000}',
        '{"day": [1], "day_bytes": 1, "month": "2026-12", "month_bytes": 1}',
        '{"day": "2026-12-04", "day_bytes": 1e300, "month": "2026-12", "month_bytes": 1}',
        "[]",
    ],
)
def test_a_damaged_count_file_is_set_aside_and_counting_starts_from_nothing(tmp_path, caplog, saved):
    """The budget's state goes through the one state-file mechanism (agent/storage.StateFile): shape, finite
    whole counts, dates as written; anything else is set aside as .bad with a line, and the box starts."""
    (tmp_path / "budget.json").write_text(saved)
    spent, _ = budget(tmp_path)
    assert spent.left() == {"day": 100_000, "month": 1_000_000}  # nothing spent
    assert list(tmp_path.glob("budget.json*.bad")) or not (tmp_path / "budget.json").exists()


def test_a_month_dated_ahead_by_a_wrong_clock_ends_like_a_day(tmp_path):
    (tmp_path / "budget.json").write_text(
        '{"day": "2026-12-04", "day_bytes": 0, "month": "9999-12", "month_bytes": 900000}'
    )
    spent, _ = budget(tmp_path)
    assert spent.left()["month"] == 1_000_000 and spent.use.month == "2026-12"


def _history_box(cfg) -> Box:
    """The last hour at 1 Hz of a voltage and of ten noisy currents (about 40 KB of history)."""
    noise = random.Random(7)
    history = History()
    for i in range(3600):
        history.add("meter", "voltage_l1", 230.0 + (i % 7) / 10, 1000.0 + i, 1.79e9 - 3600 + i, 1.0)
        for n in range(10):
            history.add("meter", f"current_{n}", noise.uniform(15, 16), 1000.0 + i, 1.79e9 - 3600 + i, 1.0)
    history.units = {("meter", "voltage_l1"): "V"} | {("meter", f"current_{n}"): "A" for n in range(10)}
    return judged(cfg, Box({}, fake_health(), history=history.freeze()))


def _raw_samples(outbox, entry) -> tuple[dict, int]:
    manifest, members = read_bundle(outbox.bundle_path(entry.report_id).read_bytes())
    return manifest, len(decode_raw(read_history(members)["meter"]["voltage_l1"]["raw"]))


def test_a_low_budget_thins_a_medium_or_low_reports_history_never_an_on_site_one(tmp_path, make_config):
    cfg = config.load(make_config())
    box, outbox = _history_box(cfg), Outbox(tmp_path / "outbox")
    spent, _ = budget(tmp_path)
    spent.count(60_000)
    thin = make_report(cfg, ReportRequest(subject="a low one"), box, outbox, spent)
    manifest, samples = _raw_samples(outbox, thin)
    assert samples == 900  # every 4th of 3600
    assert {"what": b.THIN_NOTE, "why": thin.extra["thinned"]} in manifest["cuts"]
    assert "data budget" in thin.extra["thinned"]
    urgent = make_report(cfg, ReportRequest(subject="installer at the box", on_site=True), box, outbox, spent)
    manifest, samples = _raw_samples(outbox, urgent)
    assert samples == 3600 and manifest["cuts"] == [] and "thinned" not in urgent.extra


def test_an_answer_to_support_fits_what_is_left_and_its_manifest_says_what_was_left_out(tmp_path, make_config):
    cfg = config.load(make_config())
    box, outbox = _history_box(cfg), Outbox(tmp_path / "outbox")
    spent, _ = budget(tmp_path)
    spent.count(80_000)  # 84,000 counted: 16,000 left, below the report's size
    answer = make_report(cfg, ReportRequest(subject="the data you asked for", question="Q-1"), box, outbox, spent)
    manifest, samples = _raw_samples(outbox, answer)
    assert answer.size <= b.ANSWER_FLOOR and manifest["max_bytes"] == b.ANSWER_FLOOR
    assert samples < 3600 and any("data budget" in c["why"] for c in manifest["cuts"])
    assert answer.extra["answer"] is True
    # Support reads what was left out in the ticket's summary (the intake's words for the manifest's cuts).
    from backend.text import summary_lines

    left_out = [line for line in summary_lines(manifest, {}) if line.startswith("Left out: ")]
    assert left_out and all("the data budget: " in line for line in left_out), left_out


def test_the_sender_defers_what_has_no_room_and_sends_on_site_reports_answers_and_photos(tmp_path):
    from agent.config.sections import BackendConfig
    from agent.outbox import Entry
    from agent.transports.base import Receipt
    from agent.transports.sender import Sender

    class Backend:  # stands in for the link: this test is the sender's decision, the wire is tested below
        name, sent = "https", []

        def ready(self):
            return True

        def send(self, report_id, path):
            self.sent.append(report_id)
            return Receipt(report_id=report_id, case="CASE-1", priority="low")

    spent, clock = budget(tmp_path)
    spent.count(70_000)  # 75,000 counted: 5,000 left above the reserve
    outbox = Outbox(tmp_path / "outbox")
    for rid, prio, on_site, extra in (
        ("r-low", "low", False, {}),
        ("r-onsite", "low", True, {}),
        ("r-answer", "medium", False, {"answer": True}),
        ("r-photo", "low", False, {"kind": "photo"}),
    ):
        outbox.spool(Entry(rid, prio, on_site, clock.now, extra=extra), lambda f: f.write(b"x" * 20_000))
    wire = Backend()
    sender = Sender(BackendConfig(), outbox, [wire], clock=clock, rng=lambda: 0.5, budget=spent)
    assert sender.drain() == 3 and sorted(wire.sent) == ["r-answer", "r-onsite", "r-photo"]
    low = outbox.load("r-low")
    assert low.extra["deferred"] == {"until": low.next_attempt, "period": "day"}
    assert low.next_attempt == datetime(2026, 12, 5, tzinfo=BERLIN).timestamp() + 0.5 * b.SPREAD_S
    assert sender.drain() == 0  # it waits (no second decision, no try)
    clock.now = low.next_attempt
    assert sender.drain() == 1 and "deferred" not in outbox.load("r-low").extra

    # A report larger than a whole day's room waits for one new day, then goes: waiting could not help.
    outbox.spool(Entry("r-huge", "low", False, clock.now, extra={}), lambda f: f.write(b"x" * 90_000))
    assert sender.drain() == 0
    clock.now = outbox.load("r-huge").next_attempt
    assert sender.drain() == 1
