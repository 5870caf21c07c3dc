"""Read planning and value decoding: pure functions over the shipped profiles."""

from __future__ import annotations

import struct

import pytest

from agent.devices.planner import DecodeError, ReadRequest, bus_ms, decode, plan_reads
from agent.devices.profiles import ValueSpec, load_profile
from rigs.peers import ROOT

PROFILES = ROOT / "config" / "profiles"


def plan_of(name):
    return [(r.function, r.address, r.count) for r in plan_reads(load_profile(PROFILES, name))]


# The request plan of every shipped profile (all values): (function, address, registers).
PLANS = {
    "sdm630": [
        ("input", 0x00, 36),
        ("input", 0x34, 34),
        ("input", 0xEA, 16),
        ("input", 0x156, 16),
        ("holding", 0xFC00, 2),
    ],
    "sdm72_v1": [("input", 0x34, 2), ("input", 0x48, 4), ("input", 0x156, 2)],
    "sdm72_v2": [
        ("input", 0x00, 10),
        ("input", 0x0A, 8),
        ("input", 0x34, 2),
        ("input", 0x46, 6),
        ("input", 0xC8, 8),
        ("input", 0xE0, 2),
        ("input", 0x156, 4),
        ("input", 0x180, 8),
        ("input", 0x18C, 2),
        ("input", 0x500, 4),
    ],
    "sdm120": [("input", 0x00, 32), ("input", 0x46, 10), ("input", 0x156, 4)],
    "em24": [("input", 0x00, 24), ("input", 0x28, 28), ("input", 0x5C, 2)],
    "evse_din": [("holding", 1000, 8), ("holding", 2000, 8)],
    "ev_cc": [("input", 100, 34), ("holding", 528, 1)],
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_request_plan_of_each_shipped_profile(name):
    assert plan_of(name) == PLANS[name]


def test_every_shipped_profile_has_a_plan_test():
    from agent.devices.profiles import available_profiles

    assert set(available_profiles(PROFILES)) == set(PLANS)


def test_a_full_sdm630_and_evse_cycle_fits_five_requests_and_40_percent_of_naive_bus_time():
    planned, naive = [], []
    for name in ("sdm630", "evse_din"):
        profile = load_profile(PROFILES, name)
        periodic = [n for n, s in profile.values.items() if s.poll != "once"]
        planned += plan_reads(profile, periodic)
        naive += [
            ReadRequest(profile.values[n].function, profile.values[n].address, profile.values[n].words)
            for n in periodic
        ]
    assert len(planned) <= 5
    assert bus_ms(planned) <= 0.4 * bus_ms(naive)


def test_the_gap_worth_reading_depends_on_the_baud_rate():
    """At 9600 baud a request costs 20 characters (10 registers of gap); above 19200 baud the two
    1.75 ms silences are worth more characters, so wider gaps are read through."""
    profile = load_profile(PROFILES, "sdm630")
    names = ["voltage_l1", "frequency"]
    profile.values["frequency"].address = 0x0C  # a gap of 10 registers after voltage_l1
    assert len(plan_reads(profile, names, baudrate=9600)) == 1
    profile.values["frequency"].address = 0x10  # a gap of 14
    assert len(plan_reads(profile, names, baudrate=9600)) == 2
    assert len(plan_reads(profile, names, baudrate=115200)) == 1


def test_plan_honours_the_profile_block_cap():
    profile = load_profile(PROFILES, "sdm630")
    profile.max_block = 10
    plan = plan_reads(profile)
    assert max(r.count for r in plan) <= 10
    covered = {n for r in plan for n in r.values}
    assert covered == set(profile.values)


def test_bus_time_counts_frames_and_silences():
    # One read of 2 registers: 8 + 9 bytes and 2 x 3.5 characters of silence, 11 bits each at 9600 baud.
    assert bus_ms([ReadRequest("input", 0, 2)]) == pytest.approx(24 * 11 * 1000 / 9600)
    # Above 19200 baud a silence is 1.75 ms.
    assert bus_ms([ReadRequest("input", 0, 2)], 115200) == pytest.approx(17 * 11 * 1000 / 115200 + 3.5)


def regs(fmt, value):
    raw = struct.pack(fmt, value)
    return list(struct.unpack(f">{len(raw) // 2}H", raw))


@pytest.mark.parametrize(
    "type_, fmt, value",
    [
        ("u16", ">H", 65535),
        ("i16", ">h", -5),
        ("u32", ">I", 4_000_000_000),
        ("i32", ">i", -123456),
        ("u64", ">Q", 2**40 + 7),
        ("f32", ">f", 229.68),
    ],
)
def test_decode_types(type_, fmt, value):
    assert decode(ValueSpec(address=0, type=type_), regs(fmt, value)) == pytest.approx(value)


def test_decode_low_word_first_and_scale():
    spec = ValueSpec(address=0, type="i32", word_order="little", scale=0.1)
    hi, lo = regs(">i", 2305)
    assert decode(spec, [lo, hi]) == pytest.approx(230.5)


def test_decode_mask_and_plausible_range():
    assert decode(ValueSpec(address=0, type="u16", mask=0xFF), [0x0143]) == 0x43
    with pytest.raises(DecodeError, match="implausible value 500"):
        decode(ValueSpec(address=0, type="f32", min=40, max=70), regs(">f", 500.0))


def test_decode_string_and_nan():
    assert decode(ValueSpec(address=0, type="string", length=3), [0x3130, 0x352E, 0x3000]) == "105.0"
    with pytest.raises(DecodeError):
        decode(ValueSpec(address=0, type="f32"), regs(">f", float("nan")))
