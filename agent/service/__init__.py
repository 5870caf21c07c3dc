"""The running agent: the daemon (wiring and the main loop), the report desk, health watching, and the
one status read-model. Nothing outside the entry point imports this package."""
