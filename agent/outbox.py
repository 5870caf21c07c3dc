"""The durable outbox: reports spooled on disk until the backend has given a receipt.

Each report is two files: <id>.tar.gz (the bundle) and <id>.json (its delivery state). The bundle
is written first, the state last, each under a temporary name, fsynced and renamed, and the folder
fsynced: a report whose state file exists is complete, and is never half there.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from agent.request import PRIORITY_RANK
from agent.storage import read_json, write_json

log = logging.getLogger(__name__)
TMP_SUFFIX = ".tmp"


@dataclass
class Entry:
    report_id: str
    priority: str
    on_site: bool
    created: float
    size: int = 0
    attempts: int = 0
    last_error: Optional[str] = None
    next_attempt: float = 0.0  # wall time
    parked: bool = False  # refused for good by the backend; retried after a config change
    parked_config: Optional[str] = None  # the delivery settings it was refused under
    receipt: Optional[dict] = None
    via: Optional[str] = None  # the transport that delivered it
    extra: dict = field(default_factory=dict)

    @property
    def delivered(self) -> bool:
        return self.receipt is not None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Outbox:
    def __init__(self, folder: str | Path, clock: Callable[[], float] = time.time):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._clock = clock
        self._stats_path = self.folder.parent / "outbox-stats.json"
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

    def _write_atomic(self, target: Path, write: Callable[[BinaryIO], None]) -> None:
        tmp = target.with_name(target.name + TMP_SUFFIX)
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def spool(self, entry: Entry, write_bundle: Callable[[BinaryIO], None]) -> Entry:
        """Write the bundle and then its state; once this returns, the report is accepted."""
        target = self.bundle_path(entry.report_id)
        self._write_atomic(target, write_bundle)
        entry.size = target.stat().st_size
        self.save(entry)
        log.info("accepted report %s (%s priority, %d bytes)", entry.report_id, entry.priority, entry.size)
        return entry

    def save(self, entry: Entry) -> None:
        data = json.dumps(asdict(entry), sort_keys=True).encode()
        self._write_atomic(self.folder / f"{entry.report_id}.json", lambda f: f.write(data))
        _fsync_dir(self.folder)

    def load(self, report_id: str) -> Entry | None:
        try:
            raw = json.loads((self.folder / f"{report_id}.json").read_text())
            return Entry(**raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            log.error("state of %s is unreadable (%s); it is kept for a person to look at", report_id, exc)
            return None

    def entries(self) -> list[Entry]:
        out = [self.load(p.name[: -len(".json")]) for p in self.folder.glob("*.json")]
        return [e for e in out if e is not None]

    def pending(self) -> list[Entry]:
        """Undelivered reports in sending order: high, medium, low; oldest first within each."""
        waiting = [e for e in self.entries() if not e.delivered and not e.parked]
        return sorted(waiting, key=lambda e: (PRIORITY_RANK.get(e.priority, 9), e.created, e.report_id))

    def due(self) -> list[Entry]:
        now = self._clock()
        return [e for e in self.pending() if e.next_attempt <= now]

    def remove(self, entry: Entry) -> None:
        """State first: a bundle without its state is cleaned up at the next start; the reverse is never seen."""
        (self.folder / f"{entry.report_id}.json").unlink(missing_ok=True)
        self.bundle_path(entry.report_id).unlink(missing_ok=True)
        _fsync_dir(self.folder)

    def enforce_quota(self, max_bytes: int, max_reports: int) -> list[Entry]:
        """Evict until both quotas hold: delivered reports oldest first, then undelivered low, then medium
        priority, oldest first. High-priority and on-site reports are never evicted."""
        entries = self.entries()
        total, count = sum(e.size for e in entries), len(entries)
        order = sorted((e for e in entries if e.delivered), key=lambda e: e.created)
        for priority in ("low", "medium"):
            order += sorted((e for e in entries if not e.delivered and e.priority == priority and not e.on_site),
                            key=lambda e: e.created)
        evicted = []
        for e in order:
            if total <= max_bytes and count <= max_reports:
                break
            self.remove(e)
            total, count = total - e.size, count - 1
            evicted.append(e)
            log.warning("outbox over its quota: %s report %s evicted (%s, %d bytes)",
                        "delivered" if e.delivered else "undelivered", e.report_id, e.priority, e.size)
        if evicted:
            stats = self.stats()
            stats["evicted"] = stats.get("evicted", 0) + len(evicted)
            stats["evicted_undelivered"] = stats.get("evicted_undelivered", 0) + sum(not e.delivered for e in evicted)
            write_json(self._stats_path, stats)
        if total > max_bytes or count > max_reports:
            log.warning("outbox still over its quota (%d reports, %d bytes): only high-priority and on-site "
                        "reports are left, and they are kept", count, total)
        return evicted

    def stats(self) -> dict:
        return read_json(self._stats_path, {})

    def unpark(self, fingerprint: str) -> int:
        """Parked reports refused under other delivery settings get another chance; returns how many."""
        n = 0
        for e in self.entries():
            if e.parked and e.parked_config != fingerprint:
                e.parked, e.next_attempt = False, 0.0
                self.save(e)
                n += 1
        return n
