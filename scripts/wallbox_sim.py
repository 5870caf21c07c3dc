#!/usr/bin/env python3
"""A simulated wallbox on Modbus: an SDM630-style meter (unit 105) and an EVSE DIN (unit 1).

Serves over TCP and/or RTU on a serial port (a socat pty in tests), with values that move as a
charging session does, and faults that can be injected while it runs:

    wallbox_sim.py serve --tcp-port 5020 [--rtu /dev/pts/N] --control /tmp/sim.sock
    wallbox_sim.py fault --control /tmp/sim.sock vehicle_failure on
    wallbox_sim.py state --control /tmp/sim.sock

Faults: vehicle_failure (vehicle state 5), lost_phase (L3 at 0 V), meter_silent, evse_silent,
garbled (every reply cut short), slow (replies 1.5 s late).
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

FAULTS = ("vehicle_failure", "lost_phase", "meter_silent", "evse_silent", "garbled", "slow")
METER_UNIT, EVSE_UNIT = 105, 1

# The session script: (phase, seconds). Charging values follow the EVSE's offered current.
SESSION = (("A", 20.0), ("B", 8.0), ("C", 90.0), ("B", 8.0))
STATE_CODE = {"A": 1, "B": 2, "C": 3, "D": 4, "F": 5}

METER_MAP = {  # name: input register address (float32, high word first)
    "voltage_l1": 0x00, "voltage_l2": 0x02, "voltage_l3": 0x04,
    "current_l1": 0x06, "current_l2": 0x08, "current_l3": 0x0A,
    "power_l1": 0x0C, "power_l2": 0x0E, "power_l3": 0x10,
    "apparent_power_l1": 0x12, "apparent_power_l2": 0x14, "apparent_power_l3": 0x16,
    "reactive_power_l1": 0x18, "reactive_power_l2": 0x1A, "reactive_power_l3": 0x1C,
    "power_factor_l1": 0x1E, "power_factor_l2": 0x20, "power_factor_l3": 0x22,
    "total_power": 0x34, "total_apparent_power": 0x38, "total_reactive_power": 0x3C,
    "total_power_factor": 0x3E, "frequency": 0x46, "import_energy": 0x48, "export_energy": 0x4A,
    "import_demand_power": 0x54, "voltage_thd_l1": 0xEA, "voltage_thd_l2": 0xEC,
    "voltage_thd_l3": 0xEE, "voltage_thd_average": 0xF8, "total_energy": 0x156,
    "total_reactive_energy": 0x158, "import_energy_l1": 0x15A, "import_energy_l2": 0x15C,
    "import_energy_l3": 0x15E, "export_energy_l1": 0x160, "export_energy_l2": 0x162,
    "export_energy_l3": 0x164,
}
METER_INPUT_END = 0x180
METER_SERIAL = 21034567
EVSE_MAP = {  # name: holding register address (uint16)
    "configured_current": 1000, "actual_current": 1001, "vehicle_state": 1002, "cable_limit": 1003,
    "turn_off": 1004, "firmware_version": 1005, "evse_state": 1006, "rcd_status": 1007,
    "current_after_boot": 2000, "modbus_status": 2001, "minimum_current": 2002, "flags": 2005,
    "maximum_current": 2007,
}
EVSE_RANGES = ((1000, 1008), (2000, 2018))


class Wallbox:
    """The physical state of the simulated box, advanced by wall time."""

    def __init__(self, seed: int = 1):
        self.rng = random.Random(seed)
        self.faults: set[str] = set()
        self.hold = False
        self.start = time.monotonic()
        self.last = self.start
        self.energy_kwh = [1234.5, 1180.25, 1201.75]
        self.meter: dict[str, float] = {}
        self.evse: dict[str, int] = {}
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
        if self.hold and self.meter:
            self.last = now
            return
        dt, self.last = now - self.last, now
        state = "F" if "vehicle_failure" in self.faults else self.phase(now)
        offered = 16 if state in ("B", "C") else 0
        charging = state == "C"
        volts, amps, pf = [], [], 0.99 if charging else 1.0
        for i in range(3):
            v = 230.0 + 2.5 * math.sin(now / 37.0 + i) + self.rng.uniform(-0.4, 0.4)
            if i == 2 and "lost_phase" in self.faults:
                v = 0.0
            a = offered * self.rng.uniform(0.95, 0.99) if charging and v > 0 else 0.0
            volts.append(round(v, 2))
            amps.append(round(a, 3))
        m: dict[str, float] = {}
        for i in range(3):
            n = i + 1
            p = volts[i] * amps[i] * pf
            s = volts[i] * amps[i]
            m[f"voltage_l{n}"], m[f"current_l{n}"] = volts[i], amps[i]
            m[f"power_l{n}"], m[f"apparent_power_l{n}"] = round(p, 1), round(s, 1)
            m[f"reactive_power_l{n}"] = round(math.sqrt(max(s * s - p * p, 0.0)), 1)
            m[f"power_factor_l{n}"] = pf
            self.energy_kwh[i] += p * dt / 3_600_000
            m[f"import_energy_l{n}"] = round(self.energy_kwh[i], 3)
            m[f"export_energy_l{n}"] = 0.0
            m[f"voltage_thd_l{n}"] = 1.8 + 0.1 * i
        m["total_power"] = round(sum(m[f"power_l{n}"] for n in (1, 2, 3)), 1)
        m["total_apparent_power"] = round(sum(m[f"apparent_power_l{n}"] for n in (1, 2, 3)), 1)
        m["total_reactive_power"] = round(sum(m[f"reactive_power_l{n}"] for n in (1, 2, 3)), 1)
        m["total_power_factor"] = pf
        m["frequency"] = round(50.0 + self.rng.uniform(-0.03, 0.03), 3)
        m["import_energy"] = round(sum(self.energy_kwh), 3)
        m["export_energy"] = 0.0
        m["import_demand_power"] = m["total_power"]
        m["voltage_thd_average"] = 1.9
        m["total_energy"] = m["import_energy"]
        m["total_reactive_energy"] = round(sum(self.energy_kwh) * 0.05, 3)
        self.meter = m
        self.evse = {
            "configured_current": 16, "actual_current": offered, "vehicle_state": STATE_CODE[state],
            "cable_limit": 32 if state != "A" else 0, "turn_off": 0, "firmware_version": 18,
            "evse_state": 2 if offered else 1, "rcd_status": 1 if state == "F" else 0,
            "current_after_boot": 16, "modbus_status": 1, "minimum_current": 6, "flags": 0,
            "maximum_current": 32,
        }

    def meter_registers(self) -> dict[int, int]:
        regs: dict[int, int] = {}
        for name, addr in METER_MAP.items():
            hi, lo = struct.unpack(">HH", struct.pack(">f", self.meter[name]))
            regs[addr], regs[addr + 1] = hi, lo
        return regs

    def state(self) -> dict:
        self.update()
        return {"faults": sorted(self.faults), "hold": self.hold,
                "meter": dict(self.meter, serial_number=METER_SERIAL), "evse": dict(self.evse)}


def make_context(box: Wallbox):
    from pymodbus.constants import ExcCodes
    from pymodbus.datastore import ModbusServerContext
    from pymodbus.datastore.context import ModbusBaseDeviceContext
    from pymodbus.exceptions import NoSuchIdException

    class LiveDevice(ModbusBaseDeviceContext):
        def __init__(self, unit: int):
            self.unit = unit

        def _silent(self) -> bool:
            name = "meter_silent" if self.unit == METER_UNIT else "evse_silent"
            return name in box.faults

        async def async_getValues(self, func_code, address, count=1):
            if "slow" in box.faults:
                await asyncio.sleep(1.5)
            return self.getValues(func_code, address, count)

        def getValues(self, func_code, address, count=1):
            if self._silent():
                raise NoSuchIdException("silenced by fault injection")  # the server then stays quiet
            box.update()
            if self.unit == METER_UNIT:
                if func_code == 4 and address + count <= METER_INPUT_END:
                    regs = box.meter_registers()
                    return [regs.get(a, 0) for a in range(address, address + count)]
                if func_code == 3 and 0xFC00 <= address and address + count <= 0xFC02:
                    words = struct.unpack(">HH", struct.pack(">I", METER_SERIAL))
                    return list(words[address - 0xFC00 : address - 0xFC00 + count])
                return ExcCodes.ILLEGAL_ADDRESS
            if func_code == 3 and any(lo <= address and address + count <= hi for lo, hi in EVSE_RANGES):
                by_addr = {a: box.evse[n] for n, a in EVSE_MAP.items()}
                return [by_addr.get(a, 0) for a in range(address, address + count)]
            return ExcCodes.ILLEGAL_ADDRESS

        def setValues(self, func_code, address, values):
            return ExcCodes.ILLEGAL_FUNCTION

    return ModbusServerContext(devices={METER_UNIT: LiveDevice(METER_UNIT), EVSE_UNIT: LiveDevice(EVSE_UNIT)},
                               single=False)


def garble(box: Wallbox):
    def trace(sending: bool, data: bytes) -> bytes:
        # A reply cut short: a bad CRC on RTU, a frame shorter than its header says on TCP.
        if sending and "garbled" in box.faults and len(data) > 4:
            return data[:-3]
        return data
    return trace


async def handle_control(box: Wallbox, reader, writer) -> None:
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
            reply = {"ok": True, **box.state()}
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
    from pymodbus import FramerType
    from pymodbus.server import ModbusSerialServer, ModbusTcpServer

    box = Wallbox(seed=args.seed)
    context = make_context(box)
    servers = []
    ready: dict = {"pid": os.getpid()}
    if args.tcp_port is not None:
        port = args.tcp_port or free_port()
        servers.append(ModbusTcpServer(context, address=(args.host, port), ignore_missing_devices=True,
                                       trace_packet=garble(box)))
        ready["tcp_port"] = port
    if args.rtu:
        servers.append(ModbusSerialServer(context, framer=FramerType.RTU, port=args.rtu, baudrate=args.baudrate,
                                          bytesize=8, parity="N", stopbits=1, ignore_missing_devices=True,
                                          trace_packet=garble(box)))
        ready["rtu"] = args.rtu
    if not servers:
        raise SystemExit("wallbox_sim: give --tcp-port and/or --rtu")
    for server in servers:
        await server.serve_forever(background=True)
    if args.control:
        if os.path.exists(args.control):
            os.unlink(args.control)
        await asyncio.start_unix_server(lambda r, w: handle_control(box, r, w), path=args.control)
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
    command = {"fault": lambda: f"fault {args.name} {args.onoff}", "hold": lambda: f"hold {args.onoff}",
               "state": lambda: "state"}[args.cmd]()
    try:
        reply = control(args.control, command)
    except OSError as exc:
        print(f"wallbox_sim: cannot reach the simulator at {args.control}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=2))
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
