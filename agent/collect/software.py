"""The installed software: the firmware's version and the agent's own."""

from __future__ import annotations

from agent import __version__


def read_firmware_version(version_file: str) -> str:
    """The first line of the firmware's version file, or "unknown" when it cannot be read."""
    try:
        with open(version_file, encoding="utf-8", errors="replace") as f:
            return f.readline(200).strip() or "unknown"
    except OSError:
        return "unknown"


def collect_software(version_file: str) -> dict:
    return {"firmware_version": read_firmware_version(version_file), "agent_version": __version__}
