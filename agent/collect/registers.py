"""Plan the fewest, cheapest Modbus reads for a profile, and decode what comes back."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from agent.profiles import MAX_REGISTERS, Profile, ValueSpec

# An RTU read: request = unit, function, address(2), count(2), crc(2);
# reply = unit, function, byte count, data, crc(2).
REQUEST_BYTES = 8
REPLY_OVERHEAD_BYTES = 5
# Each frame is followed by 3.5 character times of silence.
SILENCE_CHARS_PER_TRANSACTION = 7


@dataclass
class ReadRequest:
    function: str  # "input" or "holding"
    address: int
    count: int
    values: list[str] = field(default_factory=list)

    def wire_bytes(self) -> int:
        return REQUEST_BYTES + REPLY_OVERHEAD_BYTES + 2 * self.count


def bus_ms(requests: list[ReadRequest], baudrate: int = 9600, bits_per_char: int = 11) -> float:
    """Bus time of these reads: frame bytes plus the silences between frames."""
    chars = sum(r.wire_bytes() + SILENCE_CHARS_PER_TRANSACTION for r in requests)
    return chars * bits_per_char * 1000.0 / baudrate


def plan_reads(profile: Profile, names: list[str] | None = None) -> list[ReadRequest]:
    """Merge neighbouring values into block reads when reading the gap is cheaper than a new request."""
    names = list(profile.values) if names is None else names
    overhead_registers = (REQUEST_BYTES + REPLY_OVERHEAD_BYTES + SILENCE_CHARS_PER_TRANSACTION) / 2
    limit = min(profile.max_block, MAX_REGISTERS)
    plan: list[ReadRequest] = []
    for function in ("input", "holding"):
        specs = sorted(
            ((n, profile.values[n]) for n in names if profile.values[n].function == function),
            key=lambda item: (item[1].address, item[0]),
        )
        block: ReadRequest | None = None
        for name, spec in specs:
            end = spec.address + spec.words
            if block is not None:
                gap = spec.address - (block.address + block.count)
                new_count = max(block.address + block.count, end) - block.address
                if new_count <= limit and gap <= overhead_registers:
                    block.count = new_count
                    block.values.append(name)
                    continue
                plan.append(block)
            block = ReadRequest(function, spec.address, spec.words, [name])
        if block is not None:
            plan.append(block)
    return plan


class DecodeError(ValueError):
    """A register value that does not decode to a plausible number."""


def decode(spec: ValueSpec, registers: list[int]) -> float | int | str:
    """Decode SPEC's registers (already sliced to spec.words) into a scaled value."""
    if spec.type == "string":
        raw = struct.pack(f">{len(registers)}H", *registers)
        return raw.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
    words = list(reversed(registers)) if spec.word_order == "little" else list(registers)
    raw = struct.pack(f">{len(words)}H", *words)
    fmt = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "u64": ">Q", "f32": ">f"}[spec.type]
    (value,) = struct.unpack(fmt, raw)
    if spec.type == "f32" and not math.isfinite(value):
        raise DecodeError(f"register value is {value} (not a number)")
    if spec.scale != 1:
        value = value * spec.scale
    if spec.type == "f32":
        # A float32 holds about 7 significant digits; printing more shows only conversion noise.
        return float(f"{value:.7g}")
    if spec.scale != 1:
        return round(float(value), 6)
    return value


def slice_for(request: ReadRequest, spec: ValueSpec, registers: list[int]) -> list[int]:
    start = spec.address - request.address
    return registers[start : start + spec.words]
