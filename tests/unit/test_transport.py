"""Delivery that loses nothing: backend outages, refusals, quotas, MQTT with limits, TLS and passwords."""

from __future__ import annotations

from agent.outbox import Entry, Outbox
from agent.outbox.quota import enforce_quota


def test_quota_evicts_delivered_then_low_then_medium_never_high_or_on_site(tmp_path):
    box = Outbox(tmp_path / "outbox")
    specs = [
        ("d-old", "high", False, True),
        ("low-old", "low", False, False),
        ("med-old", "medium", False, False),
        ("high-old", "high", False, False),
        ("onsite-low", "low", True, False),
        ("low-new", "low", False, False),
    ]
    for i, (rid, prio, on_site, delivered) in enumerate(specs):
        e = Entry(rid, prio, on_site, created=100.0 + i)
        box.spool(e, lambda f: f.write(b"x" * 1000))
        if delivered:
            box.update(rid, lambda e: setattr(e, "receipt", {"case": "CASE-1", "priority": e.priority}))
    evicted = enforce_quota(box, max_bytes=10**9, max_reports=3)
    assert [e.report_id for e in evicted] == ["d-old", "low-old", "low-new"]
    assert enforce_quota(box, max_bytes=1, max_reports=3) and {e.report_id for e in box.entries()} == {
        "high-old",
        "onsite-low",
    }
    assert box.stats() == {"evicted": 4, "evicted_undelivered": 3}
    assert sorted(p.name for p in box.folder.iterdir()) == [
        "high-old.json",
        "high-old.tar.gz",
        "onsite-low.json",
        "onsite-low.tar.gz",
    ]


# --- MQTT --------------------------------------------------------------------------------------
