"""The outbox: reports spooled durably on disk until the backend gives a receipt (spool.py), their state and the
one vocabulary for a report's life (entry.py: accepted -> sending -> delivered, or refused), and its quota
(quota.py)."""

from agent.outbox.entry import NOTES, Entry, describe, urgency
from agent.outbox.entry import damage as bundle_damage
from agent.outbox.spool import Outbox

__all__ = ["NOTES", "Entry", "Outbox", "bundle_damage", "describe", "urgency"]
