"""One manifest type: the first member of every bundle the box makes says what it is, from which box, when,
and carries the fields of its KIND (a report, an answer, a photo, a security log), as memfaultd's manifest
tags its payload. Every bundle's manifest is made here, so the backend reads the same keys in each."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.clock import utc_iso
from agent.config import DeviceIdentity

KINDS = ("report", "answer", "photo", "feedback", "security_log")


@dataclass(frozen=True)
class Manifest:
    report_id: str
    kind: str  # one of KINDS
    trigger: str  # who or what asked for it (agent/vocab.py Reason), or the kind itself
    device: DeviceIdentity
    wall: float
    mono: float | None = None  # the monotonic time it was made at, where it is worth knowing
    clock_synced: bool | None = None
    fields: dict = field(default_factory=dict)  # the kind's own: subject, priority, case_ref, window, ...

    def to_dict(self) -> dict:
        d = self.device
        created: dict = {"wall": round(self.wall, 3), "wall_iso": utc_iso(self.wall)}
        if self.mono is not None:
            created.update(monotonic=round(self.mono, 3), clock_synced=self.clock_synced)
        return {
            "report_id": self.report_id,
            "kind": self.kind,
            "trigger": self.trigger,
            "device": {"model": d.model, "serial": d.serial, "order_number": d.order_number},
            "created": created,
            **self.fields,
        }
