"""One validator for a report request: the page, the CLI, cloud commands, the button and fault reports
all go through agent/request.py, with one set of limits and the same words."""

from __future__ import annotations

import pytest

from agent.channels.fault_reports import FaultReporter
from agent.request import LIMITS, RequestError, check_request
from rigs import peers


def errors(fields: dict, reason: str) -> dict:
    with pytest.raises(RequestError) as err:
        check_request(fields, reason)
    return err.value.errors


def test_a_person_must_leave_an_address_for_the_reply_and_the_agent_need_not():
    fields = {"subject": "Charging stops after a minute", "description": "The car stops charging after a minute."}
    assert errors(fields, "local") == {
        "email": f"{LIMITS['email'][0]} to {LIMITS['email'][1]} characters, please (0 now)"
    }
    assert check_request(fields, "cloud").email == ""


def test_support_and_fault_reports_meet_the_same_limits():
    with pytest.raises(RequestError, match="subject: 3 to 100"):
        check_request({"subject": "ok", "description": "support asked for a report"}, "cloud")
    with pytest.raises(RequestError, match="sections"):
        check_request(dict(peers.report_fields("x"), sections=["/etc/shadow"]), "cloud")
    # A firmware fault's code may be one letter and its message one word: the report still passes.
    fault = dict(code="x", device="firmware", message="y", severity="error", category="hardware")
    request = FaultReporter.request_for({"fault": fault, "repeats": 2})
    assert request.reason == "fault" and 15 <= len(request.subject) <= 100
    assert "raised 2 more times" in request.description
