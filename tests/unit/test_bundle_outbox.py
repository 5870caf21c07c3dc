"""The bundle format and the durable outbox, on a real file system."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from agent.outbox import Entry, Outbox
from agent.outbox.quota import enforce_quota
from agent.report.bundle import BundleError, Section, read_bundle, write_bundle

MANIFEST = {"report_id": "20261125T080000Z-00000001", "created": {"wall": 1_795_000_000.0}}
SECTIONS = [Section("readings.json", b'{"meter": {"voltage_l1": 230.1}}\n'), Section("software.json", b"{}\n")]


def bundle_bytes(manifest=MANIFEST, sections=SECTIONS) -> bytes:
    buf = io.BytesIO()
    write_bundle(buf, manifest, sections)
    return buf.getvalue()


def test_bundle_is_deterministic_with_the_manifest_first():
    data = bundle_bytes()
    assert data == bundle_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names == ["manifest.json", "readings.json", "software.json"]
    assert [s["name"] for s in manifest["sections"]] == ["readings.json", "software.json"]
    assert manifest["sections"][0]["bytes"] == len(SECTIONS[0].data)


def test_read_bundle_verifies_sections():
    manifest, members = read_bundle(bundle_bytes())
    assert manifest["report_id"] == MANIFEST["report_id"]
    assert members["readings.json"] == SECTIONS[0].data


def test_a_changed_section_is_caught():
    data = bundle_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in members.items():
            body = body.replace(b"230.1", b"999.9")
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    with pytest.raises(BundleError, match="readings.json does not match its checksum"):
        read_bundle(buf.getvalue())


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_bytes_are_caught(damage):
    data = bytearray(bundle_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    with pytest.raises(BundleError):
        read_bundle(bytes(data))


def entry(rid, priority="low", created=1.0):
    return Entry(report_id=rid, priority=priority, on_site=priority == "high", created=created)


def spool(outbox, e):
    return outbox.spool(e, lambda f: f.write(bundle_bytes()))


def test_a_report_gone_from_the_outbox_is_never_brought_back_by_a_change(tmp_path):
    """The one update reads the entry anew under the lock: a writer holding an old copy (the sender during an
    upload) cannot bring back what the quota evicted meanwhile."""
    box = Outbox(tmp_path)
    held = spool(box, entry("r1"))
    enforce_quota(box, max_bytes=1 << 30, max_reports=0)
    held.receipt = {"case": "CASE-1", "priority": "low"}
    assert box.update("r1", lambda e: setattr(e, "receipt", held.receipt)) is None
    assert box.entries() == [] and not box.bundle_path("r1").exists()


def test_spooled_report_survives_a_restart_and_keeps_its_state(tmp_path):
    box = Outbox(tmp_path)
    spool(box, entry("r1"))
    box.update("r1", lambda e: e.__dict__.update(attempts=2, last_error="backend not reachable"))
    again = Outbox(tmp_path).load("r1")
    assert again.attempts == 2 and again.last_error == "backend not reachable"
    assert again.size == len(bundle_bytes())
    read_bundle(box.bundle_path("r1").read_bytes())


def test_pending_order_is_priority_then_the_order_accepted_whatever_the_clock_said(tmp_path):
    box = Outbox(tmp_path)
    # "e" is accepted last, after the clock stepped back (an NTP step): its stamp is the oldest, its place last.
    for rid, prio, created in [
        ("a", "low", 1),
        ("b", "high", 5),
        ("c", "medium", 2),
        ("d", "high", 6),
        ("e", "low", 0),
    ]:
        spool(box, entry(rid, prio, created))
    assert [e.report_id for e in box.pending()] == ["b", "d", "c", "a", "e"]
    assert [e.seq for e in box.pending()] == [2, 4, 3, 1, 5]


def test_a_crash_while_spooling_leaves_no_half_report(tmp_path):
    box = Outbox(tmp_path)

    def dies_midway(f):
        f.write(b"partial")
        raise KeyboardInterrupt  # stands in for the process dying mid-write

    with pytest.raises(KeyboardInterrupt):
        box.spool(entry("r2"), dies_midway)
    assert list(tmp_path.iterdir()) == []
    # A bundle renamed into place whose state was never written was never accepted: removed at start.
    (tmp_path / "r3.tar.gz").write_bytes(bundle_bytes())
    (tmp_path / "r4.json.tmp").write_bytes(b"{")
    spool(box, entry("r5"))
    Outbox(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["r5.json", "r5.tar.gz"]
