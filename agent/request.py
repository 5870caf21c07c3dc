"""What a report is asked for, by whom; the one validator every channel uses; the one place its
priority is decided."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from agent.clock import utc_compact
from agent.contract import CASE_REF  # re-exported: the channels read it here
from agent.vocab import PEOPLE, FaultCategory, Priority, Reason, serious

# One set of limits for every channel: (fewest, most) characters. A short subject is fine ("Charging stops");
# support needs a description of at least a sentence ("doesn't work" is not enough), and an address for the reply.
LIMITS = {"subject": (3, 100), "description": (20, 500), "email": (3, 254), "case_ref": (1, 64)}
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
FIELDS = ("subject", "description", "email", "case_ref", "on_site", "sections", "request_id")


class RequestError(ValueError):
    """A request that is refused; `said` maps each field to what is wrong with it (a key of page.errors in the
    language files, and its values), `errors` is that in English, `in_words(language)` in the reader's."""

    def __init__(self, said: dict[str, tuple[str, dict]]):
        self.said = said
        self.errors = self.in_words("en")
        super().__init__("; ".join(f"{k}: {v}" if k != "_" else v for k, v in self.errors.items()))

    def in_words(self, language: str) -> dict[str, str]:
        from agent.lang import told

        return {name: told(language, key, fill, key) for name, (key, fill) in self.said.items()}


@dataclass
class ReportRequest:
    reason: str = Reason.CLI
    subject: str = ""
    description: str = ""
    email: str = ""
    case_ref: str | None = None
    on_site: bool = False
    hardware_fault: bool = False
    cannot_charge: bool = False
    sections: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # what triggered it, e.g. the fault and its repeats
    # The asker's own id for this request: asked again (its answer was lost), it is the same report.
    request_id: str | None = None
    # Only this time window (oldest, latest; Unix seconds, either may be None): an OCPP log request's.
    window: tuple | None = None
    # The request of support's this report answers (a data request's message id in its case).
    question: str | None = None

    @property
    def priority(self) -> Priority:
        return decide_priority(self.on_site, self.hardware_fault, self.cannot_charge)

    def to_dict(self) -> dict:
        return dict(asdict(self), priority=self.priority)

    def with_faults(self, active: Sequence[dict]) -> ReportRequest:
        """This request with the box's active faults counted in (they raise its priority)."""
        bad = [f for f in active if serious(f["severity"])]
        return replace(
            self,
            hardware_fault=self.hardware_fault or any(f["category"] == FaultCategory.HARDWARE for f in bad),
            cannot_charge=self.cannot_charge or any(f["category"] == FaultCategory.CHARGING for f in bad),
        )


def check_request(fields: dict, reason: str, details: dict | None = None) -> ReportRequest:
    """A ReportRequest from untrusted FIELDS, or RequestError listing every field that is wrong.

    Every channel comes through here with the same limits. Where a person asks (a Reason in PEOPLE),
    subject, description and e-mail are required; the other channels fill in their own subject and
    description before they call this.
    """
    if reason not in tuple(Reason):
        raise RequestError({"reason": ("one_of", {"names": ", ".join(Reason)})})
    errors: dict[str, tuple[str, dict]] = {}
    unknown = set(fields) - set(FIELDS)
    if unknown:
        errors["_"] = ("unknown_fields", {"names": ", ".join(sorted(map(str, unknown)))[:200]})
    out = _texts(fields, reason, errors)
    _check_other_fields(fields, errors)
    if errors:
        raise RequestError(errors)
    return ReportRequest(
        reason=reason,
        subject=out["subject"],
        description=out["description"],
        email=out["email"],
        case_ref=out["case_ref"] or None,
        on_site=fields.get("on_site", False),
        sections=list(fields.get("sections") or []),
        details=dict(details or {}),
        request_id=fields.get("request_id"),
    )


def _texts(fields: dict, reason: str, errors: dict) -> dict[str, str]:
    """The text fields stripped and within their limits (a wrong one noted in ERRORS). Every report needs a
    subject and a description; a person must also give an address for the reply."""
    required = ("subject", "description", "email") if reason in PEOPLE else ("subject", "description")
    out: dict[str, str] = {}
    for name, (lo, hi) in LIMITS.items():
        value = fields.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = ("must_be_text", {})
            continue
        value = value.strip()
        if (name in required or value) and not lo <= len(value) <= hi:
            errors[name] = ("length", {"lo": lo, "hi": hi, "n": len(value)})
        out[name] = value
    for name, pattern in (("email", EMAIL), ("case_ref", CASE_REF)):
        if name not in errors and out.get(name) and not pattern.match(out[name]):
            errors[name] = (name, {})
    return out


def _check_other_fields(fields: dict, errors: dict) -> None:
    from agent.report.sections import SECTION_NAMES as sections

    if not isinstance(fields.get("on_site", False), bool):
        errors["on_site"] = ("true_false", {})
    request_id = fields.get("request_id")
    if request_id is not None and not (isinstance(request_id, str) and REQUEST_ID.match(request_id)):
        errors["request_id"] = ("request_id", {})
    wanted = fields.get("sections") or []
    if not isinstance(wanted, list) or any(s not in sections for s in wanted):
        errors["sections"] = ("sections", {"names": ", ".join(sections) or "-"})


def fit(text: str, name: str) -> str:
    """TEXT cut to the most a field takes: for the subjects and descriptions the agent writes itself."""
    most = LIMITS[name][1]
    return text if len(text) <= most else text[: most - 1] + "…"


def decide_priority(
    on_site: bool, hardware_fault: bool = False, cannot_charge: bool = False, at_least: str = Priority.LOW
) -> Priority:
    """The one decision of a priority. On-site help is high; a hardware defect or a box that cannot charge
    is medium; the rest low. AT_LEAST: a floor, e.g. the case's own priority for what the box adds to it."""
    if on_site:
        found = Priority.HIGH
    elif hardware_fault or cannot_charge:
        found = Priority.MEDIUM
    else:
        found = Priority.LOW
    return max(found, Priority(at_least))


def new_report_id(wall: float | None = None) -> str:
    """Unique per device and sortable by creation time: 20261125T075200Z-<8 hex>."""
    return f"{utc_compact(wall)}-{os.urandom(4).hex()}"
