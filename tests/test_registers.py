"""Read planning and value decoding: pure functions over the shipped profiles."""

from __future__ import annotations

import struct

import pytest

from agent.collect.registers import DecodeError, ReadRequest, bus_ms, decode, plan_reads
from agent.profiles import ValueSpec, load_profile
from conftest import ROOT

PROFILES = ROOT / "config" / "profiles"


def plan_of(name):
    return [(r.function, r.address, r.count) for r in plan_reads(load_profile(PROFILES, name))]


def test_sdm630_plan_merges_neighbours_and_keeps_far_blocks_apart():
    assert plan_of("sdm630") == [
        ("input", 0x00, 36), ("input", 0x34, 34), ("input", 0xEA, 16), ("input", 0x156, 16),
        ("holding", 0xFC00, 2),
    ]


def test_evse_plan_reads_each_register_bank_in_one_request():
    assert plan_of("evse_din") == [("holding", 1000, 8), ("holding", 2000, 8)]


def test_plan_honours_the_profile_block_cap():
    profile = load_profile(PROFILES, "sdm630")
    profile.max_block = 10
    plan = plan_reads(profile)
    assert max(r.count for r in plan) <= 10
    covered = {n for r in plan for n in r.values}
    assert covered == set(profile.values)


def test_bus_time_counts_frames_and_silences():
    # One read of 2 registers: 8 + 9 bytes and 7 characters of silence, 11 bits each at 9600 baud.
    assert bus_ms([ReadRequest("input", 0, 2)]) == pytest.approx(24 * 11 * 1000 / 9600)


def regs(fmt, value):
    raw = struct.pack(fmt, value)
    return list(struct.unpack(f">{len(raw) // 2}H", raw))


@pytest.mark.parametrize("type_, fmt, value", [
    ("u16", ">H", 65535), ("i16", ">h", -5), ("u32", ">I", 4_000_000_000), ("i32", ">i", -123456),
    ("u64", ">Q", 2**40 + 7), ("f32", ">f", 229.68),
])
def test_decode_types(type_, fmt, value):
    assert decode(ValueSpec(address=0, type=type_), regs(fmt, value)) == pytest.approx(value)


def test_decode_low_word_first_and_scale():
    spec = ValueSpec(address=0, type="i32", word_order="little", scale=0.1)
    hi, lo = regs(">i", 2305)
    assert decode(spec, [lo, hi]) == pytest.approx(230.5)


def test_decode_string_and_nan():
    assert decode(ValueSpec(address=0, type="string", length=3), [0x3130, 0x352E, 0x3000]) == "105.0"
    with pytest.raises(DecodeError):
        decode(ValueSpec(address=0, type="f32"), regs(">f", float("nan")))
