"""Configuration: typed loading with defaults, and one clear line with file, line and key on error."""

from __future__ import annotations

import textwrap

from agent import config
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


def test_loads_typed_values_defaults_and_relative_paths(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.device.serial == "0042"
    assert cfg.poll.interval_s == 2.0 and isinstance(cfg.poll.interval_s, float)
    assert cfg.buses[0].port == 5020 and cfg.buses[0].timeout_s == 1.0
    assert cfg.state_dir == str(tmp_path / "state")
    assert cfg.backend.url == "" and cfg.mqtt.enabled is False
