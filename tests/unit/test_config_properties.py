"""Properties (Hypothesis) of what a configuration can hold and of what a collector may fail to give.

Every number in the configuration has a range it is refused outside of, with file, line and key; no value
of any type gives anything but a ConfigError. A collector's missing value (None, or no key at all) never
fails a report: the bundle and report.html are still written.
"""

from __future__ import annotations

import dataclasses
import io
import json
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import config
from agent.devices.profiles import Profile
from agent.schema import SchemaError
from rigs import peers

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


def test_every_number_a_configuration_or_a_profile_holds_has_a_range_its_default_is_in():
    unranged = [
        key for key, f, owner in ALL_NUMBERS if "range" not in f.metadata and (owner.__name__, f.name) not in FREE
    ]
    assert unranged == []
    for key, f, _ in ALL_NUMBERS:
        lo, hi = f.metadata.get("range", (None, None))
        if lo is not None and f.default not in (dataclasses.MISSING, None):
            assert lo <= f.default <= hi, key


# A top-level section and the YAML that puts VALUE at one of its numeric keys.
SETTINGS = [
    (key, f)
    for key, f, owner in numeric_fields(config.AgentConfig)
    if "range" in f.metadata and "." in key and not key.startswith(("buses", "devices"))
]


def with_value(tmp_path, key: str, value) -> str:
    section, name = key.rsplit(".", 1)
    doc: dict = {"device": {"serial": "PROP-1"}, "state_dir": "state"}
    node = doc
    for part in section.split("."):
        node = node.setdefault(part, {})
    node[name] = value
    path = tmp_path / "agent.yaml"
    path.write_text(json.dumps(doc))  # YAML is a superset of JSON
    return str(path)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    st.sampled_from(SETTINGS),
    st.one_of(
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_any_value_at_any_numeric_key_loads_or_is_refused_naming_its_key(tmp_path, setting, value):
    key, f = setting
    path = with_value(tmp_path, key, value)
    lo, hi = f.metadata["range"]
    try:
        config.load(path)
    except SchemaError as exc:
        assert str(exc).startswith(path + ":"), str(exc)
        assert exc.key, str(exc)
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    optional = value is None and "None" in str(f.type)  # None is a value these settings name (X | None)
    assert optional or (number and lo <= value <= hi), f"{key}: {value!r} was taken"


@pytest.mark.parametrize(
    "values, problem",
    [
        ("  power_l1: {address: 12, type: f32}\n  power_l1: {address: 14, type: f32}", "values.power_l1: given twice"),
        (
            "  power_l1: {address: 12, type: f32}\n  power_l2: {address: 13, type: f32}",
            "power_l2 reads registers that power_l1 reads already",
        ),
    ],
)
def test_a_profile_with_a_value_twice_or_overlapping_registers_is_refused(tmp_path, values, problem):
    from agent.devices.profiles import load_profile

    (tmp_path / "mine.yaml").write_text(f"model: Mine\nkind: meter\nvalues:\n{values}\n")
    with pytest.raises(SchemaError, match=problem.replace("(", r"\(")):
        load_profile(tmp_path, "mine")
    bits = "  status_a: {address: 3, mask: 1}\n  status_b: {address: 3, mask: 2}\n"
    (tmp_path / "bits.yaml").write_text(f"model: Bits\nkind: meter\nvalues:\n{bits}")
    assert set(load_profile(tmp_path, "bits").values) == {"status_a", "status_b"}  # bit fields may share


# --- a collector's missing value never fails a report ----------------------------------------------
@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """The sections of a real report: the box's own health collectors, the simulator's readings."""
    from agent.collect import Box
    from agent.health import collect_health, release_cache
    from agent.report.build import collect_sections
    from agent.watch.checks import judged

    folder = tmp_path_factory.mktemp("missing")
    (folder / "firmware-version").write_text("2.4.1\n")
    cfg = config.load(
        peers.write_agent_config(folder / "agent.yaml", serial="MISS-1", buses=[], devices=[], backend={})
    )
    health = collect_health(cfg, release_cache(cfg), None)
    faults = [
        {
            "code": "phase_lost",
            "device": "meter",
            "severity": "error",
            "category": "hardware",
            "message": "phase L3 has no voltage",
            "since_wall": 1.79e9,
            "since_mono": 10.0,
        }
    ]
    timeline = [
        {
            "kind": "raised",
            "code": "phase_lost",
            "message": "phase L3 has no voltage",
            "wall": 1.79e9,
            "mono": 10.0,
            "device": "meter",
            "severity": "error",
            "category": "hardware",
        }
    ]
    return cfg, collect_sections(cfg, judged(cfg, Box({}, health, faults, timeline, {})))


COLLECTED = ("system", "network", "software", "hooks", "readings")  # what the box's collectors gather


def leaves(data, path=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield path + (k,)
            yield from leaves(v, path + (k,))
    elif isinstance(data, list) and data and len(path) < 4:
        yield from leaves(data[0], path + (0,))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_collector_value_missing_still_gives_a_whole_report_and_page(collected, data):
    import copy

    from agent.report.build import build
    from agent.report.bundle import read_bundle
    from agent.request import ReportRequest

    cfg, sections = collected
    sections = copy.deepcopy(sections)
    paths = sorted({p for p in leaves(sections) if len(p) >= 2 and p[0] in COLLECTED}, key=repr)
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
        node = sections
        try:
            for part in path[:-1]:
                node = node[part]
            if data.draw(st.booleans()) and isinstance(node, dict):
                node.pop(path[-1], None)  # the collector gave no such key
            else:
                node[path[-1]] = None  # the collector could not read it
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change took this path away
    out = io.BytesIO()
    build(out, cfg, ReportRequest(subject="missing values"), sections, "20261202T000000Z-0000aaaa", 1.79e9, 5.0)
    _, members = read_bundle(out.getvalue())
    assert b"</html>" in members["report.html"]
