"""Where the agent keeps its files under the state folder: one place, so the CLI and the daemon agree."""

from __future__ import annotations

from pathlib import Path

from agent.config import AgentConfig


def control_socket_path(cfg: AgentConfig) -> str:
    return str(Path(cfg.state_dir) / "control.sock")


def outbox_dir(cfg: AgentConfig) -> Path:
    return Path(cfg.state_dir) / "outbox"
