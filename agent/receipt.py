"""The backend's answer to a delivered report: the case number and the priority it was filed with."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Receipt:
    report_id: str
    case: str
    priority: str

    def to_dict(self) -> dict:
        return asdict(self)
