#!/usr/bin/env python3
"""A simulated wallbox on Modbus: by default an SDM630 meter (unit 105) and an EVSE DIN (unit 1).

Any shipped profile can be served (--device UNIT:PROFILE): each unit answers from its profile's
register map, filled from one physical model. Serves over TCP and/or RTU on a serial port (a socat
pty in tests), with values that move as a charging session does, and faults that can be injected
while it runs:

    wallbox_sim.py serve --tcp-port 5020 [--rtu /dev/pts/N] --control /tmp/sim.sock [--device 105:sdm630]
    wallbox_sim.py fault --control /tmp/sim.sock vehicle_failure on
    wallbox_sim.py state --control /tmp/sim.sock

Faults: vehicle_failure (state E), lost_phase (L3 at 0 V), overvoltage (+28 V), frequency (50.8 Hz),
no_current (state C, no current flows), firmware_update (controller firmware 18 -> 19),
meter_silent, evse_silent, garbled (every reply cut short), slow (replies 1.5 s late).
`hold on` freezes the values so a test can compare them exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

FAULTS = (
    "vehicle_failure",
    "lost_phase",
    "overvoltage",
    "frequency",
    "no_current",
    "firmware_update",
    "meter_silent",
    "evse_silent",
    "garbled",
    "slow",
)
DEFAULT_DEVICES = ("105:sdm630", "1:evse_din")
PROFILES = Path(__file__).resolve().parent.parent / "config" / "profiles"

# The session script: (IEC 61851 state, seconds). Charging values follow the offered current.
SESSION = (("A", 20.0), ("B", 8.0), ("C", 90.0), ("B", 8.0))
METER_SERIAL = 21034567


class Wallbox:
    """The physical state of the simulated box, advanced by wall time, as named values.

    Value names are the ones the profiles use, so any profile's registers can be filled from them.
    """

    def __init__(self, seed: int = 1):
        self.rng = random.Random(seed)
        self.faults: set[str] = set()
        self.hold = False
        self.start = time.monotonic()
        self.last = self.start
        self.energy_kwh = [1234.5, 1180.25, 1201.75]
        self.session_kwh = 0.0
        self.charge_s = 0.0
        self.values: dict[str, float | int | str] = {}
        self.update()

    def phase(self, now: float) -> str:
        t = (now - self.start) % sum(d for _, d in SESSION)
        for name, duration in SESSION:
            if t < duration:
                return name
            t -= duration
        return "A"

    def update(self) -> None:
        now = time.monotonic()
        if self.hold and self.values:
            self.last = now
            return
        dt, self.last = now - self.last, now
        state = self.phase(now)
        if "no_current" in self.faults:
            state = "C"  # the car asks to charge, the contactor closes, no current flows
        if "vehicle_failure" in self.faults:
            state = "E"
        offered = 16 if state in ("B", "C") else 0
        flowing = state == "C" and "no_current" not in self.faults
        pf = 0.99 if flowing else 1.0
        v: dict[str, Any] = {}  # numbers, and the meter's serial number
        for i in range(3):
            n = i + 1
            volts = 230.0 + 2.5 * math.sin(now / 37.0 + i) + self.rng.uniform(-0.4, 0.4)
            if "overvoltage" in self.faults:
                volts += 28.0
            if i == 2 and "lost_phase" in self.faults:
                volts = 0.0
            amps = offered * self.rng.uniform(0.95, 0.99) if flowing and volts > 0 else 0.0
            volts, amps = round(volts, 1), round(amps, 3)
            power = volts * amps * pf
            apparent = volts * amps
            self.energy_kwh[i] += power * dt / 3_600_000
            self.session_kwh += power * dt / 3_600_000
            v.update(
                {
                    f"voltage_l{n}": volts,
                    f"current_l{n}": amps,
                    f"power_l{n}": round(power, 1),
                    f"apparent_power_l{n}": round(apparent, 1),
                    f"reactive_power_l{n}": round(math.sqrt(max(apparent**2 - power**2, 0.0)), 1),
                    f"power_factor_l{n}": pf,
                    f"import_energy_l{n}": round(self.energy_kwh[i], 3),
                    f"export_energy_l{n}": 0.0,
                    f"voltage_thd_l{n}": round(1.8 + 0.1 * i, 1),
                }
            )
        if flowing:
            self.charge_s += dt
        for a, b in ((1, 2), (2, 3), (3, 1)):
            v[f"voltage_l{a}_l{b}"] = round(
                math.sqrt(v[f"voltage_l{a}"] ** 2 + v[f"voltage_l{b}"] ** 2 + v[f"voltage_l{a}"] * v[f"voltage_l{b}"]),
                1,
            )
        total = sum(self.energy_kwh)
        v.update(
            {
                "total_power": round(sum(v[f"power_l{n}"] for n in (1, 2, 3)), 1),
                "total_apparent_power": round(sum(v[f"apparent_power_l{n}"] for n in (1, 2, 3)), 1),
                "total_reactive_power": round(sum(v[f"reactive_power_l{n}"] for n in (1, 2, 3)), 1),
                "total_power_factor": pf,
                "frequency": round((50.8 if "frequency" in self.faults else 50.0) + self.rng.uniform(-0.03, 0.03), 2),
                "import_energy": round(total, 3),
                "export_energy": 0.0,
                "total_energy": round(total, 3),
                "total_reactive_energy": round(total * 0.05, 3),
                "import_reactive_energy": round(total * 0.05, 3),
                "export_reactive_energy": 0.0,
                "voltage_thd_average": 1.9,
                "voltage_line_average": round(sum(v[f"voltage_l{a}_l{b}"] for a, b in ((1, 2), (2, 3), (3, 1))) / 3, 1),
                "neutral_current": 0.0,
                "resettable_total_energy": round(total - 1000, 3),
                "resettable_import_energy": round(total - 1000, 3),
                "resettable_export_energy": 0.0,
                "net_energy": round(total, 3),
                "serial_number": METER_SERIAL,
            }
        )
        v["import_demand_power"] = v["total_power"]
        v["total_import_power"], v["total_export_power"] = v["total_power"], 0.0
        v.update(
            {
                "configured_current": 16,
                "actual_current": offered,
                "vehicle_state": state,
                "cable_limit": 32 if state != "A" else 0,
                "turn_off": 0,
                "firmware_version": 19 if "firmware_update" in self.faults else 18,
                "evse_state": 2 if offered else 1,
                "rcd_status": 1 if state == "E" else 0,
                "current_after_boot": 16,
                "modbus_status": 1,
                "minimum_current": 6,
                "flags": 0,
                "maximum_current": 32,
                "charge_time": int(self.charge_s),
                "session_energy": round(self.session_kwh, 3),
            }
        )
        self.values = v


class SimDevice:
    """One Modbus unit that answers from a profile, encoding the box's named values into registers."""

    def __init__(self, unit: int, profile_name: str):
        from agent.devices.profiles import load_profile

        self.unit, self.profile_name = unit, profile_name
        self.profile = load_profile(PROFILES, profile_name)
        letters = {letter: raw for raw, letter in self.profile.vehicle_states.items()}
        self.state_code = lambda letter: letters.get(letter, {"A": 1, "B": 2, "C": 3, "D": 4}.get(letter, 5))
        self.spans = {}
        for function in ("input", "holding"):
            addrs = [(s.address, s.address + s.words) for s in self.profile.values.values() if s.function == function]
            if addrs:
                self.spans[function] = (min(a for a, _ in addrs), max(b for _, b in addrs))

    @property
    def silence_fault(self) -> str:
        return "meter_silent" if self.profile.kind == "meter" else "evse_silent"

    def value_for(self, box: Wallbox, name: str):
        value = box.values.get(name, 0)
        return self.state_code(value) if name == "vehicle_state" else value

    def registers(self, box: Wallbox, function: str) -> dict[int, int]:
        regs: dict[int, int] = {}
        for name, spec in self.profile.values.items():
            if spec.function == function:
                for i, word in enumerate(encode(spec, self.value_for(box, name))):
                    regs[spec.address + i] = word
        return regs

    def served(self, box: Wallbox) -> dict:
        return {name: self.value_for(box, name) for name in self.profile.values}


def encode(spec, value) -> list[int]:
    """The registers a device sends for VALUE: the inverse of the agent's decoding, written separately."""
    if spec.type == "string":
        raw = str(value).encode("ascii")[: spec.length * 2].ljust(spec.length * 2, b"\0")
        return list(struct.unpack(f">{spec.length}H", raw))
    if spec.type == "f32":
        raw = struct.pack(">f", float(value) / spec.scale)
    else:
        fmt = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "u64": ">Q"}[spec.type]
        raw = struct.pack(fmt, int(round(float(value) / spec.scale)))
    words = list(struct.unpack(f">{len(raw) // 2}H", raw))
    return list(reversed(words)) if spec.word_order == "little" else words


def make_context(box: Wallbox, devices: list[SimDevice]):
    from pymodbus.constants import ExcCodes
    from pymodbus.datastore import ModbusServerContext
    from pymodbus.datastore.context import ModbusBaseDeviceContext
    from pymodbus.exceptions import NoSuchIdException

    class LiveDevice(ModbusBaseDeviceContext):
        def __init__(self, device: SimDevice):
            self.device = device

        async def async_getValues(self, func_code, address, count=1):
            if "slow" in box.faults:
                await asyncio.sleep(1.5)
            return self.getValues(func_code, address, count)

        def getValues(self, func_code, address, count=1):
            dev = self.device
            if dev.silence_fault in box.faults:
                raise NoSuchIdException("silenced by fault injection")  # the server then stays quiet
            function = {3: "holding", 4: "input"}.get(func_code)
            span = dev.spans.get(function) if function else None
            # Like the real meters: a read outside the map, or longer than the device takes, is refused.
            if function is None or span is None or address < span[0] or address + count > span[1] + 16:
                return ExcCodes.ILLEGAL_ADDRESS
            if count > dev.profile.max_block:
                return ExcCodes.ILLEGAL_VALUE
            box.update()
            regs = dev.registers(box, function)
            return [regs.get(a, 0) for a in range(address, address + count)]

        def setValues(self, func_code, address, values):
            return ExcCodes.ILLEGAL_FUNCTION

    return ModbusServerContext(devices={d.unit: LiveDevice(d) for d in devices}, single=False)


def garble(box: Wallbox):
    def trace(sending: bool, data: bytes) -> bytes:
        # A reply cut short: a bad CRC on RTU, a frame shorter than its header says on TCP.
        if sending and "garbled" in box.faults and len(data) > 4:
            return data[:-3]
        return data

    return trace


async def handle_control(box: Wallbox, devices: list[SimDevice], reader, writer) -> None:
    try:
        line = (await reader.readline()).decode(errors="replace").split()
        if line[:1] == ["fault"] and len(line) == 3 and line[1] in FAULTS and line[2] in ("on", "off"):
            (box.faults.add if line[2] == "on" else box.faults.discard)(line[1])
            reply = {"ok": True, "faults": sorted(box.faults)}
        elif line[:1] == ["hold"] and len(line) == 2 and line[1] in ("on", "off"):
            box.update()
            box.hold = line[1] == "on"
            reply = {"ok": True, "hold": box.hold}
        elif line == ["state"]:
            box.update()
            reply = {
                "ok": True,
                "faults": sorted(box.faults),
                "hold": box.hold,
                "units": {str(d.unit): {"profile": d.profile_name, "values": d.served(box)} for d in devices},
            }
        else:
            reply = {"ok": False, "error": f"unknown command; try: fault {'|'.join(FAULTS)} on|off, hold on|off, state"}
        writer.write((json.dumps(reply) + "\n").encode())
        await writer.drain()
    finally:
        writer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(args) -> None:
    box = Wallbox(seed=args.seed)
    devices = []
    for item in args.device or DEFAULT_DEVICES:
        unit, _, profile = item.partition(":")
        devices.append(SimDevice(int(unit), profile))
    ready: dict = {"pid": os.getpid()}
    servers = _servers(args, box, make_context(box, devices), ready)
    if not servers:
        raise SystemExit("wallbox_sim: give --tcp-port and/or --rtu")
    for server in servers:
        await server.serve_forever(background=True)
    if args.control:
        if os.path.exists(args.control):
            os.unlink(args.control)
        await asyncio.start_unix_server(lambda r, w: handle_control(box, devices, r, w), path=args.control)
        ready["control"] = args.control
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(json.dumps(ready), flush=True)
    await stop.wait()
    for server in servers:
        await server.shutdown()
    if args.control and os.path.exists(args.control):
        os.unlink(args.control)


def _servers(args, box: Wallbox, context, ready: dict) -> list:
    """The Modbus servers asked for (TCP, RTU or both), not started yet; READY learns where they listen."""
    from pymodbus import FramerType
    from pymodbus.server import ModbusSerialServer, ModbusTcpServer

    servers: list = []
    if args.tcp_port is not None:
        port = args.tcp_port or free_port()
        servers.append(
            ModbusTcpServer(context, address=(args.host, port), ignore_missing_devices=True, trace_packet=garble(box))
        )
        ready["tcp_port"] = port
    if args.rtu:
        servers.append(
            ModbusSerialServer(
                context,
                framer=FramerType.RTU,
                port=args.rtu,
                baudrate=args.baudrate,
                bytesize=8,
                parity="N",
                stopbits=1,
                ignore_missing_devices=True,
                trace_packet=garble(box),
            )
        )
        ready["rtu"] = args.rtu
    return servers


def control(path: str, command: str) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the simulated wallbox")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--tcp-port", type=int, help="Modbus TCP port (0 picks a free one)")
    s.add_argument("--rtu", help="serial port path for Modbus RTU")
    s.add_argument("--baudrate", type=int, default=9600)
    s.add_argument("--control", help="unix socket for fault injection")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument(
        "--device",
        action="append",
        metavar="UNIT:PROFILE",
        help=f"a unit and the profile it answers with; repeatable (default {' '.join(DEFAULT_DEVICES)})",
    )
    f = sub.add_parser("fault", help="inject or clear a fault")
    f.add_argument("--control", required=True)
    f.add_argument("name", choices=FAULTS)
    f.add_argument("onoff", choices=("on", "off"))
    h = sub.add_parser("hold", help="freeze or release the values")
    h.add_argument("--control", required=True)
    h.add_argument("onoff", choices=("on", "off"))
    st = sub.add_parser("state", help="print the values being served")
    st.add_argument("--control", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="wallbox_sim: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if args.cmd == "serve":
        asyncio.run(serve(args))
        return 0
    command = {
        "fault": lambda: f"fault {args.name} {args.onoff}",
        "hold": lambda: f"hold {args.onoff}",
        "state": lambda: "state",
    }[args.cmd]()
    try:
        reply = control(args.control, command)
    except OSError as exc:
        print(f"wallbox_sim: cannot reach the simulator at {args.control}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
