"""What the backend seals for a box to believe: each box's key derived from the fleet key (agent.wire)."""

from __future__ import annotations

import os


class Sealer:
    """Seals what a box must believe (its case states, its MQTT receipts) with the box's own key, derived
    from the fleet key (agent/wire.py): without a fleet key a box believes nothing the intake says."""

    def __init__(self, fleet_key: str):
        self.fleet_key = fleet_key

    def __call__(self, purpose: str, box: str, body: dict) -> dict:
        from agent.wire import box_key, seal

        return seal(box_key(self.fleet_key, box), purpose, box, body) if self.fleet_key else body


def fleet_key() -> str:
    """From FLEET_KEY_ENV (never an argument: the process list is readable by every user of the machine)."""
    return os.environ.get(FLEET_KEY_ENV, "")


FLEET_KEY_ENV = "DIAG_INTAKE_FLEET_KEY"
