"""Every file in the state folder is input: whatever a JSON state file holds (the wrong shape, non-finite numbers,
far dates, a folder where the file was, bytes that are no JSON), the box's parts are made, the status reads, and
on-site mode answers with words; a file it cannot use is set aside. Built in-process (agent/service/wiring.Parts),
nothing started."""

from __future__ import annotations

import json
import logging
import shutil

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from agent import config
from agent.paths import STATE
from agent.service.wiring import Parts

# The JSON state files (not the folders, the socket, the security log or the key, which have their own tests).
JSON_FILES = sorted(name for name, path in STATE.items() if path.endswith(".json"))

FAR = st.sampled_from(["9999-12", "9999-12-31", "0000-01-01", "2026-13-45", "", "x" * 300])
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
VALUES = st.recursive(
    st.one_of(st.none(), NUMBERS, st.text(max_size=20), FAR),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["day", "month", "day_bytes", "cases", "on", "since", "x"]), inner, max_size=5),
    ),
    max_leaves=12,
)
DAMAGE = st.one_of(
    VALUES.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.just(b"{"),
    st.just(b"\xff\xfe not json"),
    st.just("folder"),
    st.just(b"[" * 5000 + b"]" * 5000),
)


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory):
    from rigs import peers

    folder = tmp_path_factory.mktemp("state-files")
    (folder / "firmware-version").write_text("2.4.1\n")
    return peers.write_agent_config(
        folder / "agent.yaml",
        serial="STATE-0001",
        buses=[],
        devices=[],
        backend={},
        extra={
            "web": {"enabled": False},
            "button": {"enabled": False},
            "backend": {"data_budget": {"day_bytes": 10**6}},
        },
    )


def _starts_and_answers(cfg_path, name: str, damage) -> None:
    cfg = config.load(cfg_path)
    state = cfg_path.parent / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    target = state / STATE[name]
    if damage == "folder":
        target.mkdir()
        (target / "inside").write_text("{}")
    else:
        target.write_bytes(damage)
    parts = Parts(cfg)
    try:
        status = parts.status.status()
        assert status["onsite"]["on"] in (True, False)
        assert parts.onsite.set(True, "local").on and not parts.onsite.set(False, "local").on
    finally:
        parts.poller.close()
        logging.getLogger().removeHandler(parts.log_ring)


KNOWN_DAMAGE = {
    "a folder": "folder",
    "torn": b'{"day": 3',
    "not UTF-8": b"\xff\xfe not json",
    "deep": b"[" * 5000 + b"]" * 5000,
    "non-finite": b'{"day_bytes": Infinity, "on": NaN, "since": -Infinity}',
    "far dates": b'{"day": "9999-12-31", "month": "9999-12", "until": 1e300, "since": -1e300}',
    "a list": b"[1, 2, 3]",
}


@pytest.mark.parametrize("damage", sorted(KNOWN_DAMAGE))
@pytest.mark.parametrize("name", JSON_FILES)
def test_every_state_file_damaged_every_known_way_the_box_starts(cfg_path, name, damage):
    _starts_and_answers(cfg_path, name, KNOWN_DAMAGE[damage])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(JSON_FILES), damage=DAMAGE)
def test_whatever_a_state_file_holds_the_box_starts_and_answers_with_words(cfg_path, name, damage):
    _starts_and_answers(cfg_path, name, damage)


@pytest.mark.parametrize(
    "queued",
    [
        b'{"type": "fault", "code": "X1", "message": "a fault", "time": [1]}',
        b'{"type": "updated", "version": "2.5", "time": NaN}',
        b'{"type": "clear", "code": "X1", "time": true}',
        b"[" * 5000 + b"]" * 5000,
        b'"just a string"',
    ],
)
def test_a_queued_firmware_event_the_box_cannot_take_is_set_aside_and_the_rest_are_taken(tmp_path, queued):
    from agent.channels.events import queue_dir, take_queued

    folder = queue_dir(str(tmp_path))
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-1.json").write_bytes(queued)
    (folder / "00000000000000000002-1.json").write_text('{"type": "updated", "version": "2.5"}')
    assert [e["type"] for e in take_queued(str(tmp_path))] == ["updated"]
    assert [p.name for p in folder.iterdir()] == ["00000000000000000001-1.json.bad"]
