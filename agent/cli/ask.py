"""The command line's one way to the running daemon: ask it, and learn whether it is there at all.

Every command that a running daemon does better (it has the faults, the history, the broker) asks it first;
when none runs, the command does the work itself or says what to start. NoAnswer (it took the request and
went away) is not "not running": the caller must not do the work a second time."""

from __future__ import annotations

from agent.config import AgentConfig


def ask(cfg: AgentConfig, command: str, args: dict | None = None, timeout: float = 10.0) -> dict | None:
    """The daemon's answer to COMMAND, or None when no daemon runs."""
    from agent.channels import control
    from agent.paths import control_socket_path

    try:
        return control.call(control_socket_path(cfg), command, args, timeout=timeout)
    except control.NotRunning:
        return None
