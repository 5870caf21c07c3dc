"""Channels: the ways a report or a command reaches the agent (the local page, the button, cloud
commands, fault-triggered reports, on-site mode, the control socket, firmware events).

Each channel depends on the small interfaces below, never on the daemon; the daemon hands it the parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from agent.request import ReportRequest


class Desk(Protocol):
    """Where reports are asked for and followed (service/desk.py)."""

    def submit(self, request: ReportRequest, timeout: float = 30.0) -> str: ...
    def export(self, request: ReportRequest, timeout: float = 60.0) -> tuple[str, bytes]: ...
    def wait(self, report_id: str, timeout: float) -> dict | None: ...
    def state(self, report_id: str) -> dict | None: ...
    def list(self) -> list[dict]: ...
    def bundle(self, report_id: str) -> Path | None: ...


class OnSiteSwitch(Protocol):
    """On-site mode (onsite.py)."""

    def set(self, on: bool, channel: str): ...
    def toggle(self, channel: str): ...
    def to_dict(self) -> dict: ...


class StatusSource(Protocol):
    """The box's state as people see it (service/status.py)."""

    def status(self) -> dict: ...
    def web_status(self, language: str | None = None) -> dict: ...
    def check(self, fresh: bool = True) -> dict: ...
    def scan(self, bus_name: str | None, units: list[int], budget_s: float, timeout_s: float) -> list[dict]: ...


class EventSink(Protocol):
    """Takes a checked firmware event (channels/events.py)."""

    def apply(self, event: dict) -> None: ...


class Replier(Protocol):
    """Publishes an answer on a topic under the box's own (transports/mqtt.py)."""

    def publish(
        self,
        name: str,
        payload: bytes | str,
        retain: bool = False,
        properties=None,
        timeout: float | None = None,
        correlation: bytes | None = None,
    ) -> None: ...


class Conversation(Protocol):
    """The case conversation (service/conversation.py); its refusals are agent.cases.CaseError."""

    def view(self) -> dict: ...
    def answer(self, case: object, question: object, text: object, with_report: bool = False) -> dict: ...
    def add_photo(self, case: object, label: object, data: bytes, question: object = None) -> dict: ...
    def feedback(self, case: object, easy: object) -> dict: ...
    def retry(self, report_id: object) -> dict: ...
    def file_name(self, report_id: str) -> str: ...
