"""Properties (Hypothesis) of what a configuration can hold and of what a collector may fail to give.

Every number in the configuration has a range it is refused outside of, with file, line and key; no value
of any type gives anything but a ConfigError. A collector's missing value (None, or no key at all) never
fails a report: the bundle and report.html are still written.
"""

from __future__ import annotations

import pytest

from tests.unit.test_config_properties import ALL_NUMBERS, COLLECTED, FREE, SETTINGS, numeric_fields  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.mark.parametrize(
    "text, where",
    [
        ("buses: [{name: b, type: tcp, retries: -1}]", "buses[0].retries: expected 0-10, got -1"),
        ("support: {subject: 'Box {serial} {nonsense}'}", "support.subject: unknown placeholder {nonsense}"),
        ("support: {subject: 'Box {serial:>999999999}'}", "support.subject: a placeholder takes no format"),
        ("hooks:\n  env:\n    API_KEY: one\n    API_KEY: two", "hooks.env.API_KEY: given twice (first on line 5)"),
        ("mqtt: {max_packet_bytes: 10}", "mqtt.max_packet_bytes: 0 (what the broker says) or at least 1024"),
        ("health: {disk_warn_percent: 99, disk_fail_percent: 98}", "health.disk_warn_percent: must be below"),
    ],
)
def test_values_the_agent_cannot_live_with_are_refused(tmp_path, cli, text, where):
    path = tmp_path / "agent.yaml"
    path.write_text("device: {serial: PROP-1}\nstate_dir: state\n" + text + "\n")
    result = cli("check-config", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert where in result.stderr, result.stderr
