"""The words of the domain, defined once: a report's and a case's state, a check's status, a fault's
severity, category and code, a report's priority, who asked for it and which channel switched on-site mode.

Every module compares against these members and every translation file (agent/lang/) gives them words;
a translation never defines a member (tests/test_lang.py holds that each member has words in each
language). The members are strings, so JSON, YAML and the page see the same values as before.

Where an order means something (severity, priority, a check's status) the enum is ordered by the order
its members are written in, so "error or worse" is `severity >= Severity.ERROR`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

_E = TypeVar("_E", bound="Ordered")


class Ordered(StrEnum):
    """A vocabulary whose members are ordered as written, from least to most (urgent, bad, severe)."""

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)

    def _of(self, other: str) -> int:
        return type(self)(other).rank

    def __lt__(self, other: str) -> bool:  # members order by rank, not by spelling
        return self.rank < self._of(other)

    def __le__(self, other: str) -> bool:
        return self.rank <= self._of(other)

    def __gt__(self, other: str) -> bool:
        return self.rank > self._of(other)

    def __ge__(self, other: str) -> bool:
        return self.rank >= self._of(other)

    @classmethod
    def worst(cls: type[_E], members: Iterable[str], default: _E) -> _E:
        return max((cls(m) for m in members), default=default)


class ReportState(StrEnum):
    """A report's life in the outbox: accepted -> sending -> delivered (a case), or refused for good."""

    ACCEPTED = "accepted"  # on the box, not tried yet
    SENDING = "sending"  # tried, and tried again by itself
    DELIVERED = "delivered"  # the backend gave a receipt: it is a case
    REFUSED = "refused"  # the backend said no for good: change the settings and retry, or download it


class CaseState(StrEnum):
    """A case as support publishes it; NOT_HEARD is the box's own: a delivered report's case that
    support has not spoken of yet (never sent by the backend)."""

    OPEN = "open"
    WAITING = "waiting"  # support asked something
    SOLVED = "solved"
    REOPENED = "reopened"
    NOT_HEARD = "not_heard"


CASE_STATES_SENT = tuple(s for s in CaseState if s is not CaseState.NOT_HEARD)


class Status(Ordered):
    """A judgement's and a check's status. No data is never a pass, and alone never a failure."""

    PASS = "pass"
    NO_DATA = "no_data"
    WARN = "warn"
    FAIL = "fail"


class Severity(Ordered):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


def serious(severity: str) -> bool:
    """A fault of SEVERITY is serious (error or worse): it raises a report's priority, sends a fault report and
    fails its check. A word the box does not know is not serious."""
    return severity in tuple(Severity) and Severity(severity) >= Severity.ERROR


class Priority(Ordered):
    """A report's and a case's priority, least urgent first (a sort by urgency is `reverse=True`)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FaultCategory(StrEnum):
    HARDWARE = "hardware"
    CHARGING = "charging"
    COMMUNICATION = "communication"
    SYSTEM = "system"
    SOFTWARE = "software"


class FaultCode(StrEnum):
    """The agent's own fault codes (the rule table in watch/rules.py). The firmware may announce codes of
    its own (`diag-agent event fault`), which are not members."""

    DEVICE_UNREACHABLE = "device_unreachable"
    PHASE_LOST = "phase_lost"
    VOLTAGE_OUT_OF_BAND = "voltage_out_of_band"
    FREQUENCY_OUT_OF_BAND = "frequency_out_of_band"
    VEHICLE_FAILURE = "vehicle_failure"
    CANNOT_CHARGE = "cannot_charge"
    FIRMWARE_CHANGED = "firmware_changed"
    DISK_ALMOST_FULL = "disk_almost_full"
    SOC_HOT = "soc_hot"
    UNDERVOLTAGE = "undervoltage"
    MEMORY_PRESSURE = "memory_pressure"
    CLOCK_NOT_SYNCED = "clock_not_synced"
    NETWORK_NOT_FUNCTIONAL = "network_not_functional"
    SOFTWARE_OUTDATED = "software_outdated"
    HOOK_FAILING = "hook_failing"


class Place(StrEnum):
    """Where a fault is (watch/judge/locate.py): what the installer must look at, and who can mend it."""

    SUPPLY = "supply"  # the grid or the installation up to the box: an electrician
    CAR = "car"  # the vehicle: its maker
    BOX = "box"  # the wallbox itself, its wiring and devices: the installer, then support
    NETWORK = "network"  # the router, the line, a firewall: the owner's network
    BACKEND = "backend"  # the support backend or the cloud broker: nothing to do at the box


class Channel(StrEnum):
    """Where a person or a system reaches the agent from."""

    LOCAL = "local"  # the wallbox's local web page
    CLI = "cli"
    BUTTON = "button"
    CLOUD = "cloud"
    OCPP = "ocpp"


class Reason(StrEnum):
    """Why a report is made: the channel a person asked on, or the agent's own and support's reasons."""

    LOCAL = "local"
    CLI = "cli"
    CLOUD = "cloud"
    CLOUD_FOLLOW_UP = "cloud-follow-up"
    FOLLOW_UP = "follow-up"
    BUTTON = "button"
    FAULT = "fault"
    SCHEDULE = "schedule"
    OCPP = "ocpp"


# A person typed the fields on the page or the command line; the other reasons write their own.
PEOPLE = (Reason.LOCAL, Reason.CLI)
# The channels that switch on-site mode: an installer at the box, or support asking remotely.
ONSITE_CHANNELS = (Channel.BUTTON, Channel.LOCAL, Channel.CLI, Channel.CLOUD)
