"""The command line where an integrator meets it first: --config in either place, inspect for every kind of
bundle, a box with no backend yet, the file to mail by hand, why a hook failed, and what each command's
--help says (its fields, their limits, its exit codes)."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from agent.report.bundle import Section, write_bundle


@pytest.mark.parametrize("before", [True, False])
def test_config_may_come_before_or_after_the_command(cli, tmp_path, before):
    missing = tmp_path / "nowhere.yaml"
    args = ["--config", missing, "status"] if before else ["status", "--config", missing]
    out = cli(*args)
    assert out.returncode == 2 and str(missing) in out.stderr and "usage:" not in out.stderr, out.stderr


def test_inspect_takes_config_and_says_what_a_security_log_holds(cli, make_config, tmp_path):
    cfg = make_config()
    manifest = {
        "report_id": "20261203T000000Z-5ec00001",
        "kind": "security_log",
        "trigger": "security_log",
        "device": {"model": "WB-22", "serial": "TEST-0001", "order_number": None},
        "created": {"wall": 1, "wall_iso": "2026-12-03T00:00:00Z"},
        "window": {"oldest": "2026-12-01T00:00:00Z", "latest": None},
        "events": 4,
    }
    buffer = io.BytesIO()
    write_bundle(buffer, manifest, [Section("security.log", b"{}\n")])
    path = tmp_path / "security.tar.gz"
    path.write_bytes(buffer.getvalue())
    out = cli("inspect", path, "--config", cfg)
    assert out.returncode == 0, out.stderr
    assert "security log 20261203T000000Z-5ec00001" in out.stdout and "events    4" in out.stdout
    assert "2026-12-01T00:00:00Z to now" in out.stdout and "None" not in out.stdout


def test_a_box_with_no_backend_yet_keeps_its_report_and_says_what_to_set(cli, make_config, tmp_path):
    cfg = make_config(extra={"support": {"email": "support@wallbox.example"}})
    out = cli("report", "--config", cfg, "--subject", "Charging stops", "--description", "x" * 30, "--email", "a@b.de")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "no way to the backend is configured: set backend.url, or enable MQTT" in out.stdout
    assert "refused" not in out.stdout and out.stderr == ""  # no log line, no "refused by the backend"
    listing = cli("cases", "--config", cfg).stdout
    line = next(x for x in listing.splitlines() if "by hand: mail" in x)
    path = line.split("mail ", 1)[1].split(" (as ", 1)[0]
    assert os.path.isfile(path) and "(as diag-report-TEST-0001-" in line  # the file named is there


def test_check_says_why_a_hook_failed(cli, make_config, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    broken = hooks / "commissioning"
    broken.write_text("#!/bin/sh\necho 'no such table: commissioning' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    cfg = make_config(extra={"hooks": {"dir": str(hooks)}})
    checks = {c["id"]: c for c in json.loads(cli("check", "--json", "--config", cfg).stdout)["checks"]}
    assert "no such table: commissioning" in checks["hooks"]["detail"]
    assert "no such table: commissioning" in checks["hooks"]["hint"]
    assert checks["commissioning"]["detail"].startswith("hook failed: ")


def test_every_commands_help_explains_each_field_its_limits_and_its_exit_codes(cli, make_config):
    from agent.cli.main import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 (argparse keeps them there)
    for name, parser in commands.items():
        out = cli(name, "--help")
        assert out.returncode == 0 and "exit codes: 0 " in out.stdout, name
        for action in parser._actions:  # noqa: SLF001
            assert action.help, f"{name} {action.dest}: no help"  # every field says what it is
    report = cli("report", "--help").stdout
    assert "3-100 characters" in report and "20-500 characters" in report and "3 saved on the box" in report
    event = cli("event", "--help").stdout
    assert "1-500 characters" in event and "3 the daemon is not running" in event
    assert "0-10" in cli("ocpp-log", "--help").stdout  # --retries

    # The limits the help gives are the ones the command holds to.
    cfg = make_config()
    too_long = cli("event", "fault", "--code", "x", "--message", "m" * 501, "--config", cfg)
    assert too_long.returncode == 2 and "message: expected 1-500 characters" in too_long.stderr
    fits = cli("event", "fault", "--code", "x", "--message", "m" * 500, "--config", cfg)
    assert fits.returncode == 3 and "queued" in fits.stdout
