"""Device profiles: register maps as YAML data, one file per meter or controller model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent.schema import REQUIRED, SchemaError, load_file, number

# Registers each type takes on the wire.
TYPE_WORDS: dict[str, int] = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "u64": 4, "f32": 2}  # a string: its length
# The Modbus limit for one read request.
MAX_REGISTERS = 125


@dataclass
class ValueSpec:
    address: int = number(REQUIRED, 0, 0xFFFF)
    function: Literal["input", "holding"] = "input"
    type: Literal["u16", "i16", "u32", "i32", "u64", "f32", "string"] = "u16"
    word_order: Literal["big", "little"] = "big"
    length: int | None = number(None, 1, MAX_REGISTERS, "registers")  # for strings only
    scale: float = 1.0
    mask: int | None = number(None, 1, 2**64 - 1)  # keep only these bits of the raw value (before scaling)
    unit: str = ""
    poll: Literal["fast", "slow", "once"] = "fast"
    enum: dict[int, str] = field(default_factory=dict)
    # A reading outside [min, max] is implausible: recorded as a value error, not as a reading.
    min: float | None = None
    max: float | None = None

    @property
    def words(self) -> int:
        return (self.length or 0) if self.type == "string" else TYPE_WORDS[self.type]

    def validate(self) -> None:
        if self.type == "string" and not self.length:
            raise ValueError(f"length: a string needs its length in registers (1-{MAX_REGISTERS})")
        if self.type != "string" and self.length is not None:
            raise ValueError("length: only strings take a length")
        if self.scale == 0:
            raise ValueError("scale: must not be 0")
        if self.mask is not None and self.type in ("f32", "string"):
            raise ValueError(f"mask: only integer types take a mask, not {self.type}")


@dataclass
class Profile:
    model: str
    kind: Literal["meter", "charge_controller"]
    values: dict[str, ValueSpec]
    max_block: int = number(MAX_REGISTERS, 1, MAX_REGISTERS, "registers")
    pause_ms: int = number(0, 0, 10_000, "ms")
    # Raw vehicle_state codes to IEC 61851 letters, so fault rules read every controller alike.
    vehicle_states: dict[int, Literal["A", "B", "C", "D", "E", "F"]] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.values:
            raise ValueError("values: a profile needs at least one value")
        for name, spec in self.values.items():
            if spec.words > self.max_block:
                raise ValueError(f"values: {name} needs {spec.words} registers, more than max_block")
        overlap = overlapping(self.values)
        if overlap:
            raise ValueError(
                f"values: {overlap[1]} reads registers that {overlap[0]} reads already; two values may "
                "share a register only as bit fields, each with its own mask"
            )
        if self.vehicle_states and "vehicle_state" not in self.values:
            raise ValueError("vehicle_states: the profile has no vehicle_state value to map")


def overlapping(values: dict[str, ValueSpec]) -> tuple[str, str] | None:
    """The first two values whose registers overlap (a typo in an address), or None. Bit fields of one
    register (every one with a mask) may share it."""
    spans = sorted((s.function, s.address, s.address + s.words, name, s.mask is not None) for name, s in values.items())
    reach: dict[str, tuple[int, str, bool]] = {}  # per function: the furthest end so far, whose, masked
    for function, start, end, name, masked in spans:
        far = reach.get(function)
        if far and start < far[0] and not (masked and far[2]):
            return far[1], name
        if not far or end > far[0]:
            reach[function] = (end, name, masked)
    return None


def load_profile(profiles_dir: str | Path, name: str) -> Profile:
    """Load profile NAME (file NAME.yaml) from PROFILES_DIR."""
    if not name or "/" in name or name.startswith("."):
        raise SchemaError(profiles_dir, None, "profile", f"not a profile name: {name!r}")
    return load_file(Path(profiles_dir) / f"{name}.yaml", Profile)


def available_profiles(profiles_dir: str | Path) -> list[str]:
    return sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))
