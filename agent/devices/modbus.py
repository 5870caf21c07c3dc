"""The one place that talks to pymodbus (its API moves between minor versions), and what the wire
said, classified: silence, a device's exception, a gateway's exception, noise, or a broken connection."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time

from agent.config import BusConfig
from agent.retry import backoff, spread

log = logging.getLogger(__name__)


# What each Modbus exception code means (Modbus Application Protocol v1.1b3, section 7).
EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}
GATEWAY_CODES = (0x0A, 0x0B)


class ModbusError(Exception):
    """A read failed. `kind` says what the wire said; `answered` whether the device itself was heard."""

    kind = "error"
    answered = False


class BusBusy(ModbusError):
    """Another master (the firmware) holds the bus lock; this cycle is skipped, the device is not at fault."""

    kind = "bus_busy"


class DeviceException(ModbusError):
    """The device answered with a Modbus exception: it is there, it refused this one request."""

    kind = "exception"
    answered = True

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class GatewaySilent(ModbusError):
    """A TCP gateway answered 0x0A or 0x0B: the gateway is fine, the device behind it is silent."""

    kind = "gateway"

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class _Retryable(ModbusError):
    """A failure after which the connection cannot be trusted: tried again on a fresh connection."""


class NoAnswer(_Retryable):
    """Nothing came back within the timeout: the device is silent (or the wiring, or its unit id)."""

    kind = "timeout"


class Garbled(_Retryable):
    """Bytes came back but no valid frame (a bad CRC, a short or mismatched frame): noise on the bus."""

    kind = "noise"


class ConnectionFailed(_Retryable):
    """The TCP gateway refused or dropped the connection."""

    kind = "connection"


class PortFailed(ConnectionFailed):
    """The serial port cannot be opened: the USB RS-485 adapter is missing, renamed, or held by another program."""

    kind = "port"


def cannot_connect(bus, message: str) -> ConnectionFailed:
    return (ConnectionFailed if bus.type == "tcp" else PortFailed)(message)


def make_client(b: BusConfig, trace):
    """A pymodbus client for bus B (TCP, or RTU over a serial port); TRACE hears every packet."""
    # Imported here: commands that never touch the bus start faster without it.
    from pymodbus import client as mc

    # pymodbus logs every timeout with a traceback; our own log line says it once.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if b.type == "tcp":
        return mc.ModbusTcpClient(b.host, port=b.port, timeout=b.timeout_s, retries=0, trace_packet=trace)
    return mc.ModbusSerialClient(
        b.device,
        baudrate=b.baudrate,
        parity=b.parity,
        stopbits=b.stopbits,
        bytesize=8,
        timeout=b.timeout_s,
        retries=0,
        trace_packet=trace,
    )


class ModbusLink:
    """One connection to one bus; devices on that bus share it, one request at a time."""

    RECONNECT_MAX_S = 60.0

    def __init__(self, bus: BusConfig, clock=time.monotonic):
        self.bus = bus
        self._client = None
        self._clock = clock
        self._one_at_a_time = threading.Lock()
        self._lock_fd: int | None = None
        self._reconnect_at = 0.0
        self._failures = 0  # connections in a row that could not be opened
        self._last_request = 0.0
        self._received = 0  # bytes heard during the current request: silence and noise differ here
        self.requests = 0

    def describe(self) -> str:
        b = self.bus
        return f"{b.host}:{b.port}" if b.type == "tcp" else f"{b.device} at {b.baudrate} baud"

    def _connect(self):
        if self._client is not None and self._client.connected:
            return self._client
        wait = self._reconnect_at - self._clock()
        if wait > 0:
            raise cannot_connect(self.bus, f"cannot connect to {self.describe()} (next try in {wait:.0f} s)")
        b = self.bus
        client = make_client(b, self._heard)
        if not client.connect():
            client.close()
            # Back off with jitter, so a box (or a fleet) does not hammer a dead gateway.
            self._failures += 1
            self._reconnect_at = self._clock() + backoff(self._failures, 1.0, self.RECONNECT_MAX_S, spread(0.8, 1.2))
            what = "the connection was refused or the host is unreachable" if b.type == "tcp" else "cannot open it"
            raise cannot_connect(b, f"cannot connect to {self.describe()}: {what}")
        self._failures, self._client = 0, client
        return client

    def _heard(self, sending: bool, data: bytes) -> bytes:
        """pymodbus' packet trace: count what came back, so noise is told apart from silence."""
        self._received += 0 if sending else len(data)
        return data

    @contextlib.contextmanager
    def _bus_turn(self):
        """One request at a time on this bus, under the lock file the firmware shares, after the pause."""
        with self._one_at_a_time:
            if self.bus.lock_file:
                self._flock()
            try:
                gap = self.bus.pause_ms / 1000.0 - (self._clock() - self._last_request)
                if gap > 0:
                    time.sleep(gap)
                yield
            finally:
                self._last_request = self._clock()
                if self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _flock(self) -> None:
        if self._lock_fd is None:
            assert self.bus.lock_file  # only a bus with a lock file takes this turn
            try:
                self._lock_fd = os.open(self.bus.lock_file, os.O_RDWR | os.O_CREAT, 0o664)
            except OSError as exc:
                raise ModbusError(f"cannot open the bus lock {self.bus.lock_file}: {exc.strerror}") from None
        deadline = self._clock() + self.bus.lock_wait_s
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if self._clock() >= deadline:
                    raise BusBusy(
                        f"bus {self.bus.name} is busy: {self.bus.lock_file} held for "
                        f"{self.bus.lock_wait_s:g} s by another master"
                    ) from None
                time.sleep(0.01)

    def read(self, unit: int, function: str, address: int, count: int, timeout_s=None, retries=None) -> list[int]:
        """Read COUNT registers at ADDRESS from UNIT; raise ModbusError on anything but a full reply. TIMEOUT_S
        and RETRIES hold for this request only (a scan's, on the poller's own serial link). Retries happen here,
        not in pymodbus: its own retry can take a late reply to the first try as the answer to the next request.
        After any failure the connection is dropped, so a late reply dies with the old socket."""
        error: _Retryable | None = None
        for _ in range((self.bus.retries if retries is None else retries) + 1):  # a scan asks once
            try:
                with self._bus_turn():
                    self.requests += 1
                    return self._read_once(unit, function, address, count, timeout_s or self.bus.timeout_s)
            except _Retryable as exc:
                self.close()
                error = exc
        assert error is not None  # the loop runs at least once
        raise error

    def _read_once(self, unit: int, function: str, address: int, count: int, timeout_s: float) -> list[int]:
        from pymodbus.exceptions import (
            ConnectionException,
            ModbusException,
            ModbusIOException,
        )

        client = self._connect()
        call = client.read_input_registers if function == "input" else client.read_holding_registers
        where = f"unit {unit} on {self.describe()}"
        self._received = 0
        try:
            with _timeout(client, timeout_s):
                reply = call(address, count=count, device_id=unit)
        except ModbusIOException:
            if self._received:
                raise Garbled(f"{where}: the reply was garbled (bad CRC or a short frame): noise on the bus") from None
            raise NoAnswer(f"{where}: no answer within {timeout_s:g} s") from None
        except ConnectionException as exc:
            raise ConnectionFailed(f"{where}: the connection broke ({_short(exc)})") from None
        except ModbusException as exc:
            raise Garbled(f"{where}: no valid reply ({_short(exc)})") from None
        except OSError as exc:
            raise ConnectionFailed(f"{where}: the connection broke ({exc.strerror or exc})") from None
        if reply.isError():
            code = getattr(reply, "exception_code", 0)
            meaning = EXCEPTIONS.get(code, "unknown exception")
            if code in GATEWAY_CODES:
                raise GatewaySilent(
                    f"{where}: the gateway answers, the device behind it does not (exception {code:#04x}: {meaning})",
                    code,
                )
            raise DeviceException(
                f"{where} answered exception {code} ({meaning}) for {function} {address}+{count}", code
            )
        registers = list(getattr(reply, "registers", []) or [])
        if len(registers) != count:
            raise Garbled(f"{where} sent {len(registers)} registers, {count} asked for")
        return registers

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def release(self) -> None:
        """Close the connection and the lock file, for good."""
        self.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._lock_fd = None


@contextlib.contextmanager
def _timeout(client, seconds: float):
    """SECONDS as the reply timeout of one request (pymodbus 3.11 reads comm_params; a serial port has its own)."""
    params = client.comm_params
    before = params.timeout_connect
    port = getattr(client, "socket", None)
    serial_before = getattr(port, "timeout", None) if port is not None and hasattr(port, "baudrate") else None
    if seconds == before:
        yield
        return
    params.timeout_connect = seconds
    if port is not None and serial_before is not None:
        port.timeout = seconds
    try:
        yield
    finally:
        params.timeout_connect = before
        if port is not None and serial_before is not None and client.socket is port:
            port.timeout = serial_before


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
