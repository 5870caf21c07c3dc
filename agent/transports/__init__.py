"""Transports: the ways a spooled report reaches the backend (HTTPS, MQTT), one interface, one error,
one receipt parser; the sender drains the outbox through them."""
