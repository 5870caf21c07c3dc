"""The outbox: reports spooled durably on disk until the backend gives a receipt, and the one
vocabulary for a report's life (accepted -> sending -> delivered, or refused)."""

from agent.outbox.spool import NOTES, Entry, Outbox, describe

__all__ = ["NOTES", "Entry", "Outbox", "describe"]
