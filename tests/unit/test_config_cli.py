"""Configuration: one clear line with file, line and key on error, and exit code 2, through the command line's own
main() in-process (tests/integration/test_config.py runs the real process once for the exit code)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from agent import config
from rigs.peers import ROOT
from tests.unit.test_config import GOOD, write

cli_main = importlib.import_module("agent.cli.main")  # the module (agent.cli.main is also its function's name)


@pytest.fixture
def cli(capsys, monkeypatch):
    """`diag-agent ARGS` in this process: its exit code, stdout and stderr (the logging set-up left as the test's)."""
    monkeypatch.setattr(cli_main, "setup_logging", lambda *a, **k: None)

    def run(*args):
        code = cli_main.main([str(a) for a in args])
        said = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=said.out, stderr=said.err)

    return run


def test_example_config_is_valid(cli):
    result = cli("check-config", ROOT / "config" / "agent.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK (1 buses, 2 devices)" in result.stdout


@pytest.mark.parametrize(
    "edit, line, key, expected",
    [
        (("interval_s: 2", "interval_s: fast"), 10, "poll.interval_s", "expected a number, got 'fast'"),
        (("unit: 105}", "unit: 105, colour: red}"), 8, "devices[0].colour", "unknown key"),
        (("port: 5020", "port: 70000"), 6, "buses[0].port", "expected 1-65535"),
        (("type: tcp", "type: usb"), 6, "buses[0].type", "expected one of 'tcp', 'rtu'"),
        (("bus: sim", "bus: rs485"), 8, "devices[0].bus", "no bus named 'rs485'"),
        (("profile: sdm630", "profile: sdm999"), 8, "devices[0].profile", "no profile 'sdm999'"),
        (("state_dir: state", "state_dir: state\nstate_dir: other"), 4, "state_dir", "given twice"),
        (('  serial: "0042"', '  serial: ["0042"'), 3, None, "not valid YAML"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, cli, edit, line, key, expected):
    path = write(tmp_path, GOOD.replace(*edit))
    result = cli("check-config", path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"{path}:{line}" in result.stderr if key is None else f"{path}:{line}: {key}:" in result.stderr
    assert expected in result.stderr


def test_missing_config_file(tmp_path, cli):
    result = cli("check-config", tmp_path / "nope.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == f"diag-agent: configuration error: {tmp_path / 'nope.yaml'}: file not found"


def test_broken_profile_is_refused_with_its_file_and_line(tmp_path, cli):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "mymeter.yaml").write_text("model: My meter\nkind: meter\nvalues:\n  volts: {address: 0, type: f64}\n")
    text = GOOD.replace("profile: sdm630", "profile: mymeter").format(profiles=profiles)
    (tmp_path / "agent.yaml").write_text(text)
    result = cli("check-config", tmp_path / "agent.yaml")
    assert result.returncode == 2
    assert f"{profiles / 'mymeter.yaml'}:4: values.volts.type: expected one of" in result.stderr


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "the file is empty: expected a mapping of AgentConfig settings"),
        ("- a\n- b\n", ":1: expected a mapping of AgentConfig settings"),
        ("state_dir: st\n", ":1: device: the box needs an identity"),
        ("device: {serial: ''}\nstate_dir: st\n", "device.serial: the box needs an identity"),
        ("device: {serial: 'box/1'}\nstate_dir: st\n", "device.serial: 'box/1' cannot name the box"),
        (
            "device: {serial: S1}\nbackend: {url: 'https://x/api', ca_file: missing-ca.pem}\n",
            ":2: backend.ca_file: no such file:",
        ),
        (
            "device: {serial: S1}\nmqtt:\n  enabled: true\n  client_cert: nowhere.pem\n",
            ":4: mqtt.client_cert: no such file:",
        ),
    ],
)
def test_edges_of_a_configuration_exit_2_with_file_line_and_reason(tmp_path, cli, text, words):
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    result = cli("check-config", path)
    assert result.returncode == 2 and str(path) in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_profile_is_refused_and_the_order_number_names_a_box_without_a_serial(tmp_path, cli):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "blank.yaml").write_text("")
    path = tmp_path / "agent.yaml"
    path.write_text(
        "device: {order_number: ORD-77}\nprofiles_dir: profiles\nbuses: [{name: b, type: tcp}]\n"
        "devices: [{name: d, bus: b, profile: blank, unit: 1}]\n"
    )
    result = cli("check-config", path)
    assert result.returncode == 2 and "blank.yaml: the file is empty" in result.stderr
    path.write_text("device: {order_number: ORD-77}\n")
    assert config.load(path).device.identity == "ORD-77"
