"""The one place that talks to pymodbus: its API moves between minor versions."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time

from agent.config import BusConfig

log = logging.getLogger(__name__)


class ModbusError(Exception):
    """A read failed: no answer, a broken connection, a Modbus exception or a malformed reply."""


class BusBusy(ModbusError):
    """Another master (the firmware) holds the bus lock; this cycle is skipped, the device is not at fault."""


class _Retryable(ModbusError):
    """A failure after which the connection cannot be trusted: no reply, a broken or mismatched one."""


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
        self._backoff = 0.0
        self._last_request = 0.0
        self.requests = 0

    def describe(self) -> str:
        if self.bus.type == "tcp":
            return f"{self.bus.host}:{self.bus.port}"
        return f"{self.bus.device} at {self.bus.baudrate} baud"

    def _connect(self):
        if self._client is not None and self._client.connected:
            return self._client
        wait = self._reconnect_at - self._clock()
        if wait > 0:
            raise ModbusError(f"cannot connect to {self.describe()} (next try in {wait:.0f} s)")
        # Imported here: commands that never touch the bus start faster without it.
        from pymodbus import client as mc

        # pymodbus logs every timeout with a traceback; our own log line says it once.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        b = self.bus
        if b.type == "tcp":
            client = mc.ModbusTcpClient(b.host, port=b.port, timeout=b.timeout_s, retries=0)
        else:
            client = mc.ModbusSerialClient(
                b.device, baudrate=b.baudrate, parity=b.parity, stopbits=b.stopbits,
                bytesize=8, timeout=b.timeout_s, retries=0,
            )
        if not client.connect():
            client.close()
            # Back off with jitter, so a box (or a fleet) does not hammer a dead gateway.
            self._backoff = min(self.RECONNECT_MAX_S, max(1.0, self._backoff * 2))
            self._reconnect_at = self._clock() + self._backoff * random.uniform(0.8, 1.2)
            raise _Retryable(f"cannot connect to {self.describe()}")
        self._backoff = 0.0
        self._client = client
        return client

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
                    raise BusBusy(f"bus {self.bus.name} is busy: {self.bus.lock_file} held for "
                                  f"{self.bus.lock_wait_s:g} s by another master") from None
                time.sleep(0.01)

    def read(self, unit: int, function: str, address: int, count: int) -> list[int]:
        """Read COUNT registers at ADDRESS from UNIT; raise ModbusError on anything but a full reply.

        Retries happen here, not in pymodbus: its own retry can take a late reply to the first try as
        the answer to the next request. After any failure the connection is dropped, so a late
        reply dies with the old socket instead of answering the wrong request.
        """
        error = ""
        for _ in range(self.bus.retries + 1):
            try:
                with self._bus_turn():
                    self.requests += 1
                    return self._read_once(unit, function, address, count)
            except _Retryable as exc:
                self.close()
                error = str(exc)
        raise ModbusError(error)

    def _read_once(self, unit: int, function: str, address: int, count: int) -> list[int]:
        from pymodbus.exceptions import ModbusException, ModbusIOException

        client = self._connect()
        call = client.read_input_registers if function == "input" else client.read_holding_registers
        try:
            reply = call(address, count=count, device_id=unit)
        except ModbusIOException:
            raise _Retryable(f"unit {unit} on {self.describe()}: no answer within {self.bus.timeout_s:g} s") from None
        except ModbusException as exc:
            raise _Retryable(f"unit {unit} on {self.describe()}: no valid reply ({_short(exc)})") from None
        except OSError as exc:
            raise _Retryable(f"unit {unit} on {self.describe()}: {exc}") from None
        if reply.isError():
            code = getattr(reply, "exception_code", "?")
            raise ModbusError(f"unit {unit} answered Modbus exception {code} for {function} {address}+{count}")
        registers = list(getattr(reply, "registers", []) or [])
        if len(registers) != count:
            raise _Retryable(f"unit {unit} sent {len(registers)} registers, {count} asked for")
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


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
