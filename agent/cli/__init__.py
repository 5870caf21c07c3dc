"""The command line: `diag-agent run`, `report`, `check`, `status`, the case conversation, `ocpp-log`, `scan`
(main.py wires the commands; one module each for cases, ocpp and scan; views.py renders what they print)."""

from agent.cli.main import main

__all__ = ["main"]
