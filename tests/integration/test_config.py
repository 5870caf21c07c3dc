"""A bad configuration ends every command of the real process with exit code 2 and one line naming the file, the
line and the key (the messages themselves: tests/unit/test_config_cli.py, in-process)."""

from __future__ import annotations

import textwrap

from rigs.peers import ROOT

GOOD = """\
device:
  serial: "0042"
state_dir: state
profiles_dir: {profiles}
buses:
  - {{name: sim, type: tcp, host: 127.0.0.1, port: 5020}}
devices:
  - {{name: meter, bus: sim, profile: sdm630, unit: 105}}
poll:
  interval_s: 2
"""


def write(tmp_path, text: str):
    path = tmp_path / "agent.yaml"
    path.write_text(textwrap.dedent(text).format(profiles=ROOT / "config" / "profiles"))
    return path


def test_every_command_refuses_a_bad_config_with_exit_2(tmp_path, cli):
    path = write(tmp_path, GOOD.replace("interval_s: 2", "interval_s: true"))
    for args in (["run"], ["poll", "--once"], ["report"], ["status"]):
        result = cli(*args, "--config", path)
        assert result.returncode == 2, args
        assert "poll.interval_s: expected a number, got True" in result.stderr
