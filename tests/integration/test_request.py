"""One validator for a report request: the page, the CLI, cloud commands, the button and fault reports
all go through agent/request.py, with one set of limits and the same words."""

from __future__ import annotations

import pytest

from rigs import peers
from tests.unit.test_request import errors  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({}, "subject", "3 to 100 characters, please (0 now)"),
        (
            dict(peers.report_fields("Charging stops after a minute"), email="notanemail"),
            "email",
            "an e-mail address for the reply, please",
        ),
        (
            dict(peers.report_fields("Charging stops after a minute"), description="broken"),
            "description",
            "20 to 500 characters, please (6 now)",
        ),
        (
            dict(peers.report_fields("Charging stops after a minute"), case_ref="../etc"),
            "case_ref",
            "letters, digits, '-', '_' and '.' only",
        ),
    ],
)
def test_the_cli_refuses_what_the_page_refuses_with_the_same_words(cli, make_config, fields, field, words):
    assert errors(fields, "local")[field] == words == errors(fields, "cli")[field]
    argv = ["report", "--config", make_config()]
    for name, value in fields.items():
        argv += [{"case_ref": "--case"}.get(name, f"--{name}"), value]
    result = cli(*argv)
    assert result.returncode == 2, result.stdout
    assert words in result.stderr and "Traceback" not in result.stderr
    assert "delivered" not in result.stdout


def test_the_control_socket_refuses_a_bad_request_without_making_a_report(tmp_path, make_config, agent_process):
    from agent.channels import control

    cfg = make_config()
    agent = agent_process(cfg)
    answer = control.call(agent.info["control"], "report", {"subject": "x", "wait_s": 0})
    assert answer["ok"] is False and "3 to 100 characters" in answer["error"]
    answer = control.call(agent.info["control"], "report", dict(peers.report_fields("wait"), wait_s=[1]))
    assert answer["ok"] is False and "wait_s" in answer["error"]
    assert not list((tmp_path / "state" / "outbox").glob("*.json"))
