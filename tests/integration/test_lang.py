"""The installer's language and clock: English and German as data files (agent/lang/), times shown in the box's
time zone with the offset, the page at a 360 px phone in German, report.html in German."""

from __future__ import annotations

import pytest

from rigs import peers
from tests.unit.test_lang import VOCABULARIES  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.mark.parametrize(
    "key, value, said",
    [("language", "fr", "language: expected one of de, en"), ("timezone", "Mars/Base", "not a time zone name")],
)
def test_an_unknown_language_or_zone_is_a_config_error(make_config, cli, key, value, said):
    path = make_config(extra={key: value})
    out = cli("check-config", path)
    assert out.returncode == 2 and said in out.stderr and "agent.yaml" in out.stderr, out.stderr


def test_the_cli_speaks_the_box_language(make_config, cli, sim_bus):
    path = make_config(buses=[sim_bus], devices=peers.sim_devices(), extra={"language": "de"})
    out = cli("check", "--config", path).stdout
    assert out.startswith("Wo der Fehler liegt: Kein Fehler") and "diag-agent Selbstprüfung:" in out
    assert "Zähler meter" in out and "Uhrzeit" in out
