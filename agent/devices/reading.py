"""One device's plan read against what field devices really answer.

Silence (a timeout, a gateway's 0x0A/0x0B, a broken connection) ends the plan: the rest would only wait
too. Anything else does not: a device that answers with an exception is there. Exception 2 (illegal
data address) or 3 (illegal value) on a block read is split in halves until the values the device does
not offer are found; they are marked unsupported and planned around, and the rest keeps flowing. A
busy answer (6) skips that one request this cycle; a garbled reply (noise) is counted, not held against
the device unless nothing else came back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.devices.modbus import (
    EXCEPTIONS,
    BusBusy,
    DeviceException,
    Garbled,
    ModbusError,
    ModbusLink,
)
from agent.devices.planner import ReadRequest, bus_ms, plan_reads
from agent.devices.profiles import Profile

log = logging.getLogger(__name__)
SPLIT_CODES = (2, 3)  # the device lacks a register in the block, or takes fewer at once


@dataclass
class Outcome:
    answered: bool = False  # the device itself was heard (values or an exception)
    silent: ModbusError | None = None  # why the plan stopped: the device (or its path) is silent
    noise: Garbled | None = None  # the last garbled reply, if any
    bus_busy: BusBusy | None = None  # another master held the bus: the cycle was skipped
    busy_answers: int = 0  # exception 6 answers
    used_ms: float = 0.0
    unsupported: dict[str, str] = field(default_factory=dict)  # values found missing: name -> why
    # A block the device refused, and the smaller reads that worked in its place: plan those from now on.
    replaced: dict[tuple[str, int, int], list[ReadRequest]] = field(default_factory=dict)


class PlanReader:
    """Reads REQUESTS of one device on LINK; STORE(request, registers) keeps what came back."""

    def __init__(
        self,
        link: ModbusLink,
        unit: int,
        profile: Profile,
        baudrate: int,
        store: Callable[[ReadRequest, list[int]], None],
        value_error: Callable[[str, str], None],
    ):
        self.link = link
        self.unit = unit
        self.profile = profile
        self.baudrate = baudrate
        self.store, self.value_error = store, value_error

    def read(self, requests: list[ReadRequest]) -> Outcome:
        out = Outcome()
        pause = self.profile.pause_ms / 1000.0
        for i, req in enumerate(requests):
            if i and pause:
                time.sleep(pause)
            if not self._one(req, out):
                break
        return out

    def _one(self, req: ReadRequest, out: Outcome, leaves: list[ReadRequest] | None = None) -> bool:
        """Read REQ into OUT; False when the rest of the plan should not be tried this cycle. LEAVES
        collects the reads that worked while a refused block is being split."""
        try:
            registers = self.link.read(self.unit, req.function, req.address, req.count)
        except BusBusy as exc:
            out.bus_busy = exc
            return False
        except DeviceException as exc:
            out.answered = True
            out.used_ms += bus_ms([req], self.baudrate)
            self._exception(req, exc, out, leaves)
            return True
        except Garbled as exc:
            out.noise = exc
            return True
        except ModbusError as exc:  # silence: a timeout, a gateway's 0x0B, a broken connection
            out.silent = exc
            return False
        out.answered = True
        out.used_ms += bus_ms([req], self.baudrate)
        self.store(req, registers)
        if leaves is not None:
            leaves.append(req)
        return True

    def _exception(
        self, req: ReadRequest, exc: DeviceException, out: Outcome, leaves: list[ReadRequest] | None
    ) -> None:
        if exc.code in SPLIT_CODES:
            if len(req.values) == 1:
                out.unsupported[req.values[0]] = (
                    f"not offered by this device (exception {exc.code}: {EXCEPTIONS[exc.code]})"
                )
                return
            found: list[ReadRequest] = []
            half = len(req.values) // 2
            for part in (req.values[:half], req.values[half:]):
                for sub in plan_reads(self.profile, part, self.baudrate):
                    if not self._one(sub, out, found) or out.silent:
                        return  # silence in the middle: try splitting again another cycle
            if leaves is not None:
                leaves += found
            covered = {v for r in found for v in r.values} | set(out.unsupported)
            if set(req.values) <= covered:  # a busy answer in between: split again another cycle
                out.replaced[(req.function, req.address, req.count)] = found
        elif exc.code == 6:
            out.busy_answers += 1  # the device is busy: these values keep their last reading this cycle
        else:
            for name in req.values:
                self.value_error(name, str(exc))
