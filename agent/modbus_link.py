"""The one place that talks to pymodbus: its API moves between minor versions."""

from __future__ import annotations

import logging

from agent.config import BusConfig

log = logging.getLogger(__name__)


class ModbusError(Exception):
    """A read failed: no answer, a broken connection, a Modbus exception or a malformed reply."""


class _Retryable(ModbusError):
    """A failure after which the connection cannot be trusted: no reply, a broken or mismatched one."""


class ModbusLink:
    """One connection to one bus; devices on that bus share it, one request at a time."""

    def __init__(self, bus: BusConfig):
        self.bus = bus
        self._client = None

    def describe(self) -> str:
        if self.bus.type == "tcp":
            return f"{self.bus.host}:{self.bus.port}"
        return f"{self.bus.device} at {self.bus.baudrate} baud"

    def _connect(self):
        if self._client is not None and self._client.connected:
            return self._client
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
            raise _Retryable(f"cannot connect to {self.describe()}")
        self._client = client
        return client

    def read(self, unit: int, function: str, address: int, count: int) -> list[int]:
        """Read COUNT registers at ADDRESS from UNIT; raise ModbusError on anything but a full reply.

        Retries happen here, not in pymodbus: its own retry can take a late reply to the first try as
        the answer to the next request. After any failure the connection is dropped, so a late
        reply dies with the old socket instead of answering the wrong request.
        """
        error = ""
        for _ in range(self.bus.retries + 1):
            try:
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


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
