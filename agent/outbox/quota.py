"""The outbox's quota: how much it may hold, and what goes first when it holds more. Delivered reports go first,
oldest first, then undelivered low, then medium ones; high-priority and on-site reports are never evicted."""

from __future__ import annotations

import logging

from agent.outbox.entry import Entry
from agent.outbox.spool import Outbox
from agent.vocab import Priority

log = logging.getLogger(__name__)


def eviction_order(entries: list[Entry]) -> list[Entry]:
    """Which reports go first when the outbox is over its quota: delivered ones oldest first, then undelivered
    low, then medium priority, oldest first. High-priority and on-site reports are never in it."""
    order = sorted((e for e in entries if e.delivered), key=lambda e: (e.seq, e.created))
    for priority in (Priority.LOW, Priority.MEDIUM):
        waiting = (e for e in entries if not e.delivered and e.priority == priority and not e.on_site)
        order += sorted(waiting, key=lambda e: (e.seq, e.created))
    return order


def enforce_quota(outbox: Outbox, max_bytes: int, max_reports: int) -> list[Entry]:
    """Evict (in eviction_order) until both quotas hold; the evicted reports, counted in the outbox's stats."""
    with outbox.lock:
        entries = outbox.entries()
        total, count = sum(e.size for e in entries), len(entries)
        evicted = []
        for e in eviction_order(entries):
            if total <= max_bytes and count <= max_reports:
                break
            outbox.remove(e)
            total, count = total - e.size, count - 1
            evicted.append(e)
            what = "delivered" if e.delivered else "undelivered"
            log.warning(
                "outbox over its quota: %s report %s evicted (%s, %d bytes)", what, e.report_id, e.priority, e.size
            )
        outbox.count_evicted(evicted)
    if total > max_bytes or count > max_reports:
        log.warning(
            "outbox still over its quota (%d reports, %d bytes): only high-priority and on-site "
            "reports are left, and they are kept",
            count,
            total,
        )
    return evicted
