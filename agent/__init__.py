"""diag-agent: diagnostics and system reports for EV wallboxes."""

__version__ = "0.1.0"
