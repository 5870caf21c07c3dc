"""Transports that carry a spooled report to the support backend and bring back its receipt."""
