"""The firmware hook runner and the shipped hooks, as real processes."""

from __future__ import annotations

from agent.health.hooks import find_hooks
from rigs.peers import ROOT

SHIPPED = ROOT / "firmware_hooks"


def hook(folder, name, body):
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_shipped_hooks_are_all_found():
    assert [p.name for p in find_hooks(SHIPPED)] == [
        "cloud_credentials",
        "commissioning",
        "firmware_logs",
        "firmware_version",
        "pi_throttling",
    ]
