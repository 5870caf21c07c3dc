"""Plan the fewest, cheapest Modbus reads for a profile, and decode what comes back."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from agent.devices.profiles import MAX_REGISTERS, Profile, ValueSpec

# An RTU read: request = unit, function, address(2), count(2), crc(2);
# reply = unit, function, byte count, data, crc(2).
REQUEST_BYTES = 8
REPLY_OVERHEAD_BYTES = 5
# Each frame is followed by 3.5 character times of silence (fixed at 1.75 ms above 19200 baud).
SILENCE_CHARS_PER_FRAME = 3.5


@dataclass
class ReadRequest:
    function: str  # "input" or "holding"
    address: int
    count: int
    values: list[str] = field(default_factory=list)

    def wire_bytes(self) -> int:
        return REQUEST_BYTES + REPLY_OVERHEAD_BYTES + 2 * self.count


def char_ms(baudrate: int, bits_per_char: int = 11) -> float:
    """One character on the wire: start, 8 data, parity or a second stop bit, stop."""
    return bits_per_char * 1000.0 / baudrate


def silence_ms(baudrate: int, bits_per_char: int = 11) -> float:
    return 1.75 if baudrate > 19200 else SILENCE_CHARS_PER_FRAME * char_ms(baudrate, bits_per_char)


def bus_ms(requests: list[ReadRequest], baudrate: int = 9600, bits_per_char: int = 11) -> float:
    """Bus time of these reads: frame bytes plus the silence after each request and reply."""
    per_char, quiet = char_ms(baudrate, bits_per_char), silence_ms(baudrate, bits_per_char)
    return sum(r.wire_bytes() * per_char + 2 * quiet for r in requests)


def plan_reads(profile: Profile, names: list[str] | None = None, baudrate: int = 9600) -> list[ReadRequest]:
    """Merge neighbouring values into block reads when reading the gap is cheaper than a new request."""
    names = list(profile.values) if names is None else names
    # A separate request costs its framing bytes and two silences; a register in a gap costs 2 bytes.
    request_cost_chars = REQUEST_BYTES + REPLY_OVERHEAD_BYTES + 2 * silence_ms(baudrate) / char_ms(baudrate)
    overhead_registers = request_cost_chars / 2
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
    if spec.mask is not None:
        value &= spec.mask
    if spec.scale != 1:
        value = round(value * spec.scale, 6)
    if spec.type == "f32":
        # A float32 holds about 7 significant digits; printing more shows only conversion noise.
        value = float(f"{value:.7g}")
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise DecodeError(f"implausible value {value} (expected {spec.min} to {spec.max})")
    return value


def slice_for(request: ReadRequest, spec: ValueSpec, registers: list[int]) -> list[int]:
    start = spec.address - request.address
    return registers[start : start + spec.words]
