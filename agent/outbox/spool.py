"""The durable outbox: reports spooled on disk until the backend has given a receipt (its quota: quota.py; a
report's state and vocabulary: entry.py).

Each report is two files: <id>.tar.gz (the bundle) and <id>.json (its delivery state). The bundle
is written first, the state last, each under a temporary name, fsynced and renamed, and the folder
fsynced: a report whose state file exists is complete, and is never half there.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import BinaryIO

from agent.clock import wall as wall_clock
from agent.outbox.entry import Entry, entry_of, urgency
from agent.paths import STATE
from agent.storage import TMP_SUFFIX, StateFile, fsync_dir, read_bytes, set_aside, write_atomic, write_json
from agent.vocab import ReportState

log = logging.getLogger(__name__)


def _locked(method):
    """One writer at a time: the desk, the sender, the page and the quota all change the outbox."""

    @wraps(method)
    def run(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)

    return run


class Outbox:
    """Safe to call from any thread: every change holds the outbox's lock; readers see whole files only."""

    def __init__(self, folder: str | Path, clock: Callable[[], float] = wall_clock):
        self.lock = threading.RLock()  # one writer at a time (agent/outbox/quota.py takes it too)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._clock = clock
        self._stats = StateFile(self.folder.parent / STATE["outbox_stats"], {"evicted": 0, "evicted_undelivered": 0})
        self._clean_up()

    def _clean_up(self) -> None:
        """Remove what a crash left half-written: temporary files and bundles with no state."""
        for p in self.folder.iterdir():
            if p.name.endswith(TMP_SUFFIX):
                p.unlink(missing_ok=True)
        for p in self.folder.glob("*.tar.gz"):
            rid = p.name[: -len(".tar.gz")]
            if not (self.folder / f"{rid}.json").exists():
                log.warning("removing %s, its spooling was interrupted before it was accepted", p.name)
                p.unlink(missing_ok=True)

    def bundle_path(self, report_id: str) -> Path:
        return self.folder / f"{report_id}.tar.gz"

    @_locked
    def spool(self, entry: Entry, write_bundle: Callable[[BinaryIO], object]) -> Entry:
        """Write the bundle and then its state; once this returns, the report is accepted."""
        target = self.bundle_path(entry.report_id)
        entry.seq = max((e.seq for e in self.entries()), default=0) + 1
        write_atomic(target, write_bundle, sync_folder=False)  # save() below syncs the folder for both
        entry.size = target.stat().st_size
        self._write(entry)
        log.info("accepted report %s (%s priority, %d bytes)", entry.report_id, entry.priority, entry.size)
        return entry

    def _write(self, entry: Entry) -> None:
        write_json(os.path.join(self.folder, entry.report_id + ".json"), asdict(entry), durable=True)

    @_locked
    def update(self, report_id: str, change: Callable[[Entry], object]) -> Entry | None:
        """The one way to change a report's state, for every writer (sender, pacing, desk, page): under the
        outbox's lock the entry is read anew from disk, CHANGE applied to it and saved. A report that is gone
        (the quota evicted it, it was removed) stays gone: None, and nothing is written. OSError: not saved."""
        entry = self.load(report_id)
        if entry is None:
            log.info("report %s is no longer in the outbox: its change is not saved", report_id)
            return None
        change(entry)
        self._write(entry)
        return entry

    # Plain strings, not Path objects: pathlib interns every name it parses, and every status (the page
    # asks every 3 s) reads every entry; the interned table grew with the reports the outbox had seen.
    def load(self, report_id: str) -> Entry | None:
        path = os.path.join(self.folder, report_id + ".json")
        if "/" in report_id or report_id.startswith("."):  # a name from outside never becomes a path elsewhere
            return None
        try:
            return entry_of(report_id, json.loads(read_bytes(path)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:  # a symlink, a torn or a planted file
            set_aside(path, f"is not the state of report {report_id} ({exc})")
            return None

    def entries(self) -> list[Entry]:
        out = [self.load(name[: -len(".json")]) for name in os.listdir(self.folder) if name.endswith(".json")]
        return [e for e in out if e is not None]

    def find(self, request_id: str) -> Entry | None:
        """The report made for REQUEST_ID (the asker's own id), if one was accepted."""
        return next((e for e in self.entries() if e.extra.get("request_id") == request_id), None)

    def pending(self) -> list[Entry]:
        """Undelivered reports in sending order: urgent (on-site, high), then medium, low; oldest first within each."""
        waiting = [e for e in self.entries() if not (e.delivered or e.parked or e.damaged)]
        return sorted(waiting, key=lambda e: (tuple(-x for x in urgency(e)), e.seq, e.created, e.report_id))

    def counts(self, entries: list[Entry] | None = None) -> dict[str, int]:
        """How many reports (ENTRIES, else all on disk) are in each state, and how many the quota evicted."""
        listing, out = self.entries() if entries is None else entries, dict.fromkeys(map(str, ReportState), 0)
        for e in listing:
            out[e.state] += 1
        return dict(out, evicted=self.stats().get("evicted", 0), damaged=sum(e.damaged for e in listing))

    @_locked
    def remove(self, entry: Entry) -> None:
        """State first: a bundle without its state is cleaned up at the next start; the reverse is never seen."""
        (self.folder / f"{entry.report_id}.json").unlink(missing_ok=True)
        self.bundle_path(entry.report_id).unlink(missing_ok=True)
        fsync_dir(self.folder)

    @_locked
    def count_evicted(self, evicted: list[Entry]) -> None:
        """The quota's evictions, counted for the status (agent/outbox/quota.py)."""
        if evicted:
            stats = self.stats()
            stats["evicted"] += len(evicted)
            stats["evicted_undelivered"] += sum(not e.delivered for e in evicted)
            self._stats.save(stats)

    def stats(self) -> dict:
        return self._stats.load()

    @_locked
    def prepare_for_start(self, fingerprint: str, jitter_s: float) -> None:
        """At the daemon's start: refused reports get another chance under new delivery settings, and
        waiting ones are spread over JITTER_S (10,000 boxes back after a power cut must not all send at once)."""
        unparked = self.unpark(fingerprint)
        if unparked:
            log.info("%d refused reports will be tried again: the delivery settings changed", unparked)
        now = self._clock()
        for entry in self.pending():
            spread = now + random.uniform(0, jitter_s)
            try:
                self.update(entry.report_id, lambda e, at=spread: setattr(e, "next_attempt", max(e.next_attempt, at)))
            except OSError as exc:  # a full disk: it is sent without the jitter, and the agent starts
                log.warning("report %s: its delivery state cannot be saved: %s", entry.report_id, exc)

    @_locked
    def retry(self, entry: Entry) -> None:
        """A refused report, asked for again by a person (the backend's settings changed): sent next."""
        entry.parked, entry.next_attempt = False, 0.0
        self.update(entry.report_id, _unparked)
        log.info("report %s: retried by hand after it was refused (%s)", entry.report_id, entry.last_error)

    @_locked
    def unpark(self, fingerprint: str) -> int:
        """Parked reports refused under other delivery settings get another chance; returns how many."""
        n = 0
        for e in self.entries():
            if e.parked and not e.damaged and e.parked_config != fingerprint:
                try:
                    self.update(e.report_id, _unparked)
                except OSError as exc:
                    log.warning("report %s stays refused for now: %s", e.report_id, exc)
                    continue
                n += 1
        return n


def _unparked(entry: Entry) -> None:
    """A refused report given another chance: sent next."""
    entry.parked, entry.next_attempt = False, 0.0
