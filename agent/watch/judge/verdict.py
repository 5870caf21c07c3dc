"""A judgement: what was judged, its status, in plain words, and which fault and hint it names."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.vocab import Status


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
