"""What every transport is and returns: the Transport interface, the one DeliveryError, the receipt."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol


class DeliveryError(Exception):
    """A report did not reach the backend. `final` means retrying the same bytes cannot help;
    `retry_after` is the backend's own word on when to come back (seconds); `cannot_carry`, this transport
    can never carry these bytes (another may); `clock`, the box's clock is behind the backend's certificate:
    nothing but a set clock helps, so the report waits for it without counting an attempt."""

    def __init__(
        self,
        message: str,
        final: bool = False,
        retry_after: float | None = None,
        cannot_carry: bool = False,
        clock: bool = False,
    ):
        super().__init__(message)
        self.final = final
        self.retry_after = retry_after
        self.cannot_carry, self.clock = cannot_carry, clock


@dataclass
class Receipt:
    """The backend's answer to a delivered report: the case it landed in (a case it names and the backend
    knows: then ATTACHED), and the case's priority."""

    report_id: str
    case: str
    priority: str
    attached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def parse_receipt(report_id: str, body: bytes | str, where: str) -> Receipt:
    """The receipt in a backend answer ({"case": ..., "priority": ...}); DeliveryError when it has none.

    An answer without a case number is final: sending the same bytes again gets the same answer.
    """
    try:
        data = json.loads(body)
        return Receipt(
            report_id=report_id,
            case=str(data["case"]),
            priority=str(data["priority"]),
            attached=data.get("attached") is True,
        )
    except (ValueError, KeyError, TypeError):
        shown = body[:200] if isinstance(body, str) else body[:200].decode("utf-8", "replace")
        raise DeliveryError(f"the backend's {where} answer has no case number: {shown!r}", final=True) from None


class Transport(Protocol):
    """One way to the backend. `ready` says whether trying now makes sense (a broker connection is up)."""

    name: str

    def ready(self) -> bool: ...

    def send(self, report_id: str, bundle: Path) -> Receipt: ...
