"""Properties of the read planner and the decoder over generated profiles and values (Hypothesis):
every plan reads every value exactly once, never more than the block cap, and decoding round-trips."""

from __future__ import annotations

import math
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.devices.planner import decode, plan_reads, slice_for
from agent.devices.profiles import TYPE_WORDS, Profile, ValueSpec
from rigs.wallbox_sim import encode  # noqa: E402  (the device side, written apart from the decoder)

NUMERIC = ("u16", "i16", "u32", "i32", "u64", "f32")
RANGES = {
    "u16": (0, 2**16 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "u32": (0, 2**32 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "u64": (0, 2**53),
}


@st.composite
def profiles(draw):
    n = draw(st.integers(1, 30))
    values = {}
    for i in range(n):
        kind = draw(st.sampled_from(NUMERIC + ("string",)))
        length = draw(st.integers(1, 8)) if kind == "string" else None
        values[f"v{i}"] = ValueSpec(
            address=draw(st.integers(0, 400)),
            function=draw(st.sampled_from(("input", "holding"))),
            type=kind,
            length=length,
        )
    max_block = draw(st.integers(max(s.words for s in values.values()), 125))
    return Profile(model="generated", kind="meter", values=values, max_block=max_block)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(profiles(), st.sampled_from((1200, 9600, 19200, 115200)), st.data())
def test_every_plan_reads_every_value_once_within_the_block_cap(profile, baudrate, data):
    names = data.draw(st.lists(st.sampled_from(sorted(profile.values)), unique=True, min_size=1))
    plan = plan_reads(profile, names, baudrate)
    read = [n for r in plan for n in r.values]
    assert sorted(read) == sorted(names)  # every value once, nothing else
    for r in plan:
        assert 1 <= r.count <= min(profile.max_block, 125)
        for name in r.values:
            spec = profile.values[name]
            assert spec.function == r.function
            assert r.address <= spec.address and spec.address + spec.words <= r.address + r.count


@settings(max_examples=500)
@given(st.data(), st.sampled_from(NUMERIC), st.sampled_from(("big", "little")))
def test_decoding_round_trips(data, kind, word_order):
    spec = ValueSpec(address=0, type=kind, word_order=word_order)
    if kind == "f32":
        value = data.draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    else:
        value = data.draw(st.integers(*RANGES[kind]))
    registers = encode(spec, value)
    assert len(registers) == TYPE_WORDS[kind]
    decoded = decode(spec, registers)
    if kind == "f32":
        assert math.isclose(decoded, value, rel_tol=1e-6, abs_tol=1e-30)
    else:
        assert decoded == value


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=16), st.integers(1, 8))
def test_strings_round_trip_within_their_length(text, length):
    spec = ValueSpec(address=0, type="string", length=length)
    assert decode(spec, encode(spec, text)) == text[: 2 * length].strip()


@given(st.binary(min_size=2, max_size=16).filter(lambda b: len(b) % 2 == 0), st.sampled_from(NUMERIC[:-1]))
def test_any_register_bytes_decode_to_a_number_or_a_clear_error(raw, kind):
    spec = ValueSpec(address=0, type=kind)
    registers = list(struct.unpack(f">{len(raw) // 2}H", raw))[: spec.words]
    if len(registers) < spec.words:
        return
    plan_value = decode(spec, slice_for(plan_reads(Profile("g", "meter", {"x": spec}))[0], spec, registers))
    assert isinstance(plan_value, int)
