"""Properties (Hypothesis) of what a configuration can hold and of what a collector may fail to give.

Every number in the configuration has a range it is refused outside of, with file, line and key; no value
of any type gives anything but a ConfigError. A collector's missing value (None, or no key at all) never
fails a report: the bundle and report.html are still written.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from agent import config
from agent.devices.profiles import Profile

# Numbers that are free by design: a profile's plausible range and scale are the device's own units.
FREE = {("ValueSpec", "min"), ("ValueSpec", "max"), ("ValueSpec", "scale")}


def numeric_fields(cls, prefix: str = "", seen=None):
    """(dotted key, field, owner class) for every int or float setting under dataclass CLS."""
    seen = seen or set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        union = typing.get_origin(tp) in (typing.Union, __import__("types").UnionType)
        inner = [a for a in typing.get_args(tp) if a is not type(None)][0] if union else tp
        if typing.get_origin(inner) is list:
            inner = typing.get_args(inner)[0]
        if typing.get_origin(inner) is dict:
            inner = typing.get_args(inner)[1]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(inner) and inner not in seen:
            yield from numeric_fields(inner, key + ".", seen | {inner})
        elif inner in (int, float):
            yield key, f, cls


ALL_NUMBERS = list(numeric_fields(config.AgentConfig)) + list(numeric_fields(Profile))


# A top-level section and the YAML that puts VALUE at one of its numeric keys.
SETTINGS = [
    (key, f)
    for key, f, owner in numeric_fields(config.AgentConfig)
    if "range" in f.metadata and "." in key and not key.startswith(("buses", "devices"))
]


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


COLLECTED = ("system", "network", "software", "hooks", "readings")  # what the box's collectors gather
