"""What a report is asked for, by whom, and the one place its priority is decided."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Literal, Optional

Priority = Literal["high", "medium", "low"]
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass
class ReportRequest:
    reason: str = "manual"  # fault | local | cloud | button | cli | schedule
    subject: str = ""
    description: str = ""
    email: str = ""
    case_ref: Optional[str] = None
    on_site: bool = False
    hardware_fault: bool = False
    cannot_charge: bool = False
    sections: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # what triggered it, e.g. the fault and its repeats

    @property
    def priority(self) -> Priority:
        return decide_priority(self.on_site, self.hardware_fault, self.cannot_charge)

    def to_dict(self) -> dict:
        return dict(asdict(self), priority=self.priority)

    def with_faults(self, active: list[dict]) -> "ReportRequest":
        """This request with the box's active faults counted in (they raise its priority)."""
        serious = [f for f in active if f["severity"] in ("error", "critical")]
        return replace(self,
                       hardware_fault=self.hardware_fault or any(f["category"] == "hardware" for f in serious),
                       cannot_charge=self.cannot_charge or any(f["code"] in ("cannot_charge", "vehicle_failure")
                                                               for f in active))


def decide_priority(on_site: bool, hardware_fault: bool, cannot_charge: bool) -> Priority:
    """On-site help is high; a hardware defect or a box that cannot charge is medium; the rest low."""
    if on_site:
        return "high"
    if hardware_fault or cannot_charge:
        return "medium"
    return "low"


def new_report_id(wall: float | None = None) -> str:
    """Unique per device and sortable by creation time: 20261125T075200Z-<8 hex>."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if wall is None else wall))
    return f"{stamp}-{os.urandom(4).hex()}"
