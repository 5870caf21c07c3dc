"""A judgement: what was judged, its status, in plain words, and which fault and hint it names."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.vocab import Status, serious


@dataclass
class Judgement:
    topic: str  # device, grid, charging, disk, temperature, memory, clock, power_supply, network, software
    subject: str  # a device name, or "box"
    status: Status
    detail: str  # what was seen, in plain words
    fault: str | None = None  # the fault code this is evidence for (only where status is warn or fail)
    variant: str | None = None  # which hint explains it, when not the status itself
    fill: dict = field(default_factory=dict)  # the hint's placeholders


def worst(judgements: list[Judgement]) -> Status:
    return Status.worst((j.status for j in judgements), Status.NO_DATA)


def fault_status(severity: str) -> Status:
    """How a fault no check explains is shown: failing when serious, else a warning."""
    return Status.FAIL if serious(severity) else Status.WARN


def shown_status(j: Judgement, pending: bool) -> Status:
    """How judgement J is shown: a failure that names a fault not held long enough to be raised yet is a warning."""
    return Status.WARN if pending and j.status is Status.FAIL else j.status
