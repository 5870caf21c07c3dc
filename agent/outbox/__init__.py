"""The outbox: reports spooled durably on disk until the backend gives a receipt, and the one
vocabulary for a report's life (accepted -> sending -> delivered, or refused)."""

from agent.outbox.spool import NOTES, Entry, Outbox, describe, urgency
from agent.outbox.spool import damage as bundle_damage

__all__ = ["NOTES", "Entry", "Outbox", "bundle_damage", "describe", "urgency"]
