"""A bad configuration ends every command of the real process with exit code 2 and one line naming the file, the
line and the key (the messages themselves: tests/unit/test_config_cli.py, in-process)."""

from __future__ import annotations

from tests.unit.test_config import GOOD, write  # noqa: F401  (fixtures and helpers shared with that tier)


def test_every_command_refuses_a_bad_config_with_exit_2(tmp_path, cli):
    path = write(tmp_path, GOOD.replace("interval_s: 2", "interval_s: true"))
    for args in (["run"], ["poll", "--once"], ["report"], ["status"]):
        result = cli(*args, "--config", path)
        assert result.returncode == 2, args
        assert "poll.interval_s: expected a number, got True" in result.stderr
