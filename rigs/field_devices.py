#!/usr/bin/env python3
"""Field devices as real ones behave, for the tests and the bench: a Modbus server written from the
specification on raw TCP sockets and raw RTU frames, not on pymodbus, so the agent's client is checked
against an implementation that is not its own library.

Each unit answers from a shipped profile's register map, filled by a value model, with one behaviour of
the field at a time (or several):

    missing=FUNC:ADDR-ADDR   registers the device does not have: exception 2 (many SDM630 clones lack
                             the serial number at holding 0xFC00)
    max_block=N              more than N registers in one request: exception 3
    busy_every=N             every Nth request answered with exception 6 (busy)
    garble_every=N           every Nth reply sent with a broken CRC (RTU) or cut short (TCP)
    late_s=S                 every reply S seconds late (after the client's timeout)
    silent                   no answer at all; behind a gateway: exception 0x0B from the gateway
    behind_gateway           the unit sits behind a TCP gateway that answers 0x0B when it is silent

    field_devices.py serve --tcp-port P [--rtu /dev/pts/N] --unit 105:sdm630:missing=holding:64512-64513
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROFILES = Path(__file__).resolve().parent.parent / "config" / "profiles"
ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
DEVICE_FAILURE = 4
BUSY = 6
GATEWAY_PATH, GATEWAY_TARGET = 0x0A, 0x0B
FUNCTIONS = {3: "holding", 4: "input"}


def crc16(data: bytes) -> int:
    """Modbus RTU CRC-16 (polynomial 0xA001, start 0xFFFF), written out from the specification."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    body = bytes([unit]) + pdu
    return body + struct.pack("<H", crc16(body))


# --- what the devices measure -------------------------------------------------------------------
class NormalLife:
    """A day at a home wallbox, as named values at time t (seconds since the start of the day).

    Overnight the car charges on a schedule it keeps itself: it is plugged in at 18:00, rests in state B
    with 16 A offered until 01:00 (charging scheduled by the car), charges in state C until 04:30, and
    rests in B again with its battery full until it leaves at 07:30. At 12:00 the mains dips for two
    seconds (a neighbour's heat pump starting). Voltages wander by a few volts, frequency by 0.05 Hz.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, start: float | None = None):
        self.clock = clock
        self.start = clock() if start is None else start
        self.faults: set[str] = set()  # lost_phase, vehicle_failure, no_current (injected real faults)

    def state(self, t: float) -> str:
        hour = (t / 3600.0) % 24
        if "vehicle_failure" in self.faults:
            return "E"
        if "no_current" in self.faults:
            return "C"
        if hour >= 18 or hour < 1:
            return "B"
        if 1 <= hour < 4.5:
            return "C"
        if 4.5 <= hour < 7.5:
            return "B"
        return "A"

    def values(self) -> dict:
        t = self.clock() - self.start
        state = self.state(t)
        offered = 16 if state in ("B", "C") else 0
        flowing = state == "C" and "no_current" not in self.faults
        dip = 43200 <= t % 86400 < 43202
        v: dict = {}
        for n in (1, 2, 3):
            volts = 230.0 + 3.0 * math.sin(t / 600.0 + n) - (30.0 if dip else 0.0)
            if n == 3 and "lost_phase" in self.faults:
                volts = 0.0
            amps = 15.6 if flowing and volts > 0 else 0.0
            v.update({f"voltage_l{n}": round(volts, 1), f"current_l{n}": amps, f"power_l{n}": round(volts * amps, 1)})
        v.update(
            {
                "total_power": round(sum(v[f"power_l{n}"] for n in (1, 2, 3)), 1),
                "frequency": round(50.0 + 0.05 * math.sin(t / 97.0), 2),
                "import_energy": round(1000 + t / 3600.0, 3),
                "total_energy": round(1000 + t / 3600.0, 3),
                "serial_number": 21034567,
                "configured_current": 16,
                "actual_current": offered,
                "vehicle_state": state,
                "firmware_version": 18,
                "evse_state": 2 if offered else 1,
                "cable_limit": 32 if state != "A" else 0,
            }
        )
        return v


# --- one unit and its behaviours ------------------------------------------------------------------
@dataclass
class Behaviour:
    missing: list[tuple[str, int, int]] = field(default_factory=list)  # (function, first, last) registers
    max_block: int = 125
    busy_every: int = 0
    garble_every: int = 0
    late_s: float = 0.0
    silent: bool = False
    behind_gateway: bool = False

    @classmethod
    def parse(cls, words: list[str]) -> Behaviour:
        b = cls()
        for word in words:
            key, _, value = word.partition("=")
            if key == "missing":
                function, _, span = value.partition(":")
                first, _, last = span.partition("-")
                b.missing.append((function, int(first, 0), int(last or first, 0)))
            elif key in ("max_block", "busy_every", "garble_every"):
                setattr(b, key, int(value))
            elif key == "late_s":
                b.late_s = float(value)
            elif key in ("silent", "behind_gateway"):
                setattr(b, key, True)
            else:
                raise ValueError(f"unknown behaviour {word!r}")
        return b


class FieldUnit:
    def __init__(self, unit: int, profile_name: str, behaviour: Behaviour, model: NormalLife):
        from agent.devices.profiles import load_profile

        self.unit = unit
        self.profile_name = profile_name
        self.behaviour = behaviour
        self.model = model
        self.profile = load_profile(PROFILES, profile_name)
        self.requests = 0
        self.lock = threading.Lock()

    def registers(self, function: str) -> dict[int, int]:
        from rigs.wallbox_sim import encode

        codes = {letter: raw for raw, letter in self.profile.vehicle_states.items()}
        values, regs = self.model.values(), {}
        for name, spec in self.profile.values.items():
            if spec.function != function:
                continue
            value = values.get(name, 0)
            if name == "vehicle_state":
                value = codes.get(value, 1)
            for i, word in enumerate(encode(spec, value)):
                regs[spec.address + i] = word
        return regs

    def answer(self, pdu: bytes) -> tuple[bytes | None, bool]:
        """The reply PDU for a request PDU (None: stay silent), and whether to garble it on the wire."""
        b = self.behaviour
        with self.lock:
            self.requests += 1
            n = self.requests
        if b.silent:
            return None, False
        if b.late_s:
            time.sleep(b.late_s)
        function = pdu[0]
        if function not in FUNCTIONS or len(pdu) != 5:
            return bytes([function | 0x80, ILLEGAL_FUNCTION]), False
        address, count = struct.unpack(">HH", pdu[1:5])
        if b.busy_every and n % b.busy_every == 0:
            return bytes([function | 0x80, BUSY]), False
        if not 1 <= count <= 125 or count > b.max_block:
            return bytes([function | 0x80, ILLEGAL_VALUE]), False
        kind = FUNCTIONS[function]
        wanted = range(address, address + count)
        if any(f == kind and first <= a <= last for f, first, last in b.missing for a in wanted):
            return bytes([function | 0x80, ILLEGAL_ADDRESS]), False
        regs = self.registers(kind)
        if not any(a in regs for a in wanted):
            return bytes([function | 0x80, ILLEGAL_ADDRESS]), False
        data = b"".join(struct.pack(">H", regs.get(a, 0)) for a in wanted)
        garbled = bool(b.garble_every) and n % b.garble_every == 0
        return bytes([function, len(data)]) + data, garbled


class Field:
    """The units on one wire (a TCP gateway, or one RS-485 line)."""

    def __init__(self, units: list[FieldUnit]):
        self.units = {u.unit: u for u in units}

    def reply(self, unit: int, pdu: bytes, gateway: bool) -> tuple[bytes | None, bool]:
        u = self.units.get(unit)
        if u is None:
            # A TCP gateway answers for a unit nobody has; a plain RS-485 line stays quiet.
            return (bytes([pdu[0] | 0x80, GATEWAY_TARGET]), False) if gateway else (None, False)
        answer, garbled = u.answer(pdu)
        if answer is None and gateway and u.behaviour.behind_gateway:
            return bytes([pdu[0] | 0x80, GATEWAY_TARGET]), False
        return answer, garbled


# --- the wires -------------------------------------------------------------------------------------
def serve_tcp(field_: Field, port: int = 0, gateway: bool = True) -> socketserver.ThreadingTCPServer:
    """Modbus TCP (MBAP header + PDU) on 127.0.0.1; returns the server, already serving on a thread."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            sock = self.request
            while True:
                header = _recv_exactly(sock, 7)
                if header is None:
                    return
                tid, proto, length, unit = struct.unpack(">HHHB", header)
                pdu = _recv_exactly(sock, length - 1)
                if pdu is None or proto != 0:
                    return
                answer, garbled = field_.reply(unit, pdu, gateway)
                if answer is None:
                    continue
                frame = struct.pack(">HHHB", tid, 0, len(answer) + 1, unit) + answer
                try:
                    sock.sendall(frame[:-3] if garbled else frame)
                except OSError:
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="field-tcp", daemon=True).start()
    return server


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def serve_rtu(field_: Field, device: str, stop: threading.Event) -> threading.Thread:
    """Modbus RTU on a serial device (a socat pty): a request is 8 bytes; a bad CRC is ignored."""
    import termios
    import tty

    fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)

    def run():
        import select

        buffer = b""
        while not stop.is_set():
            readable, _, _ = select.select([fd], [], [], 0.1)
            if not readable:
                buffer = b""  # a silence ends a frame
                continue
            buffer += os.read(fd, 256)
            while len(buffer) >= 8:
                frame, buffer = buffer[:8], buffer[8:]
                if crc16(frame[:6]) != struct.unpack("<H", frame[6:8])[0]:
                    buffer = b""  # garbage on the line: wait for the next silence
                    break
                answer, garbled = field_.reply(frame[0], frame[1:6], gateway=False)
                if answer is None:
                    continue
                out = rtu_frame(frame[0], answer)
                os.write(fd, out[:-1] + bytes([out[-1] ^ 0xFF]) if garbled else out)
        os.close(fd)

    thread = threading.Thread(target=run, name="field-rtu", daemon=True)
    thread.start()
    return thread


def parse_unit(text: str, model: NormalLife) -> FieldUnit:
    """UNIT:PROFILE[:BEHAVIOUR[,BEHAVIOUR...]] e.g. 105:sdm630:missing=holding:64512-64513,busy_every=7."""
    unit, _, rest = text.partition(":")
    profile, _, behaviours = rest.partition(":")
    words = [w for w in _split_behaviours(behaviours) if w]
    return FieldUnit(int(unit), profile, Behaviour.parse(words), model)


def _split_behaviours(text: str) -> list[str]:
    # "missing=holding:64512-64513,busy_every=7": commas separate behaviours.
    return text.split(",") if text else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--tcp-port", type=int)
    p.add_argument("--rtu")
    p.add_argument("--unit", action="append", required=True)
    args = ap.parse_args(argv)
    model = NormalLife()
    field_ = Field([parse_unit(u, model) for u in args.unit])
    info: dict = {"pid": os.getpid()}
    stop = threading.Event()
    if args.tcp_port is not None:
        server = serve_tcp(field_, args.tcp_port)
        info["tcp_port"] = server.server_address[1]
    if args.rtu:
        serve_rtu(field_, args.rtu, stop)
        info["rtu"] = args.rtu
    print(json.dumps(info), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
