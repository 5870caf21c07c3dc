"""A CSMS and a charge point built on the `ocpp` package, talking over a real websocket on loopback: the charge
point carries our glue (firmware_hooks/ocpp/diag_agent_ocpp.py). For the tests and the bench."""

from __future__ import annotations

import asyncio
import logging


def glue():
    """Our glue, imported as a charge point's firmware imports it (firmware_hooks/ocpp, installed editable)."""
    import diag_agent_ocpp

    return diag_agent_ocpp


class Seen(logging.Handler):
    """The OCPP messages as the CSMS's side logged them."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        if record.getMessage().startswith("csms:"):
            self.lines.append(record.getMessage())


async def exchange(
    version: str, agent_argv: list[str], ask, timeout: float = 60, finals: int = 1, notification: str | None = None
):
    """Run a CSMS and a charge point with our glue (AGENT_ARGV: how it calls `diag-agent ocpp-log`); ASK(csms)
    sends the requests (`csms.notified` holds what came so far) until FINALS final statuses came. NOTIFICATION:
    the one the CSMS hears (default: 2.0.1 LogStatusNotification, 1.6 DiagnosticsStatusNotification). Returns
    ASK's answer and the notifications, in order, as the CSMS received them."""
    import websockets
    from ocpp.routing import on

    if version == "2.0.1":
        from ocpp.v201 import ChargePoint, call_result

        base, notification = glue().DiagnosticsV201, notification or "LogStatusNotification"
    else:
        from ocpp.v16 import ChargePoint, call_result

        base, notification = glue().DiagnosticsV16, notification or "DiagnosticsStatusNotification"
    notified: list[dict] = []
    finished = asyncio.Event()

    class Csms(ChargePoint):
        notified: list[dict]

        @on(notification)
        async def _seen(self, status, request_id=None, **_):
            notified.append({"status": status, "request_id": request_id})
            if sum(n["status"] != "Uploading" for n in notified) >= finals:
                finished.set()
            return getattr(call_result, str(notification))()

    class Box(base, ChargePoint):  # type: ignore[valid-type,misc]  # the glue for this version, chosen above
        diag_agent = agent_argv

    connected: asyncio.Queue = asyncio.Queue()

    async def serve(ws):
        csms = Csms("csms", ws)
        csms.notified = notified
        await connected.put(csms)
        try:
            await csms.start()
        except websockets.exceptions.ConnectionClosed:  # the charge point hung up: the exchange is over
            pass

    from websockets.typing import Subprotocol

    subprotocol = Subprotocol("ocpp2.0.1" if version == "2.0.1" else "ocpp1.6")
    async with websockets.serve(serve, "127.0.0.1", 0, subprotocols=[subprotocol]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/WB-0001", subprotocols=[subprotocol]) as ws:
            box = Box("WB-0001", ws)
            runner = asyncio.ensure_future(box.start())
            csms = await asyncio.wait_for(connected.get(), 10)
            answer = await ask(csms)
            await asyncio.wait_for(finished.wait(), timeout)
            await asyncio.wait_for(box.diag_settle(), 10)
            runner.cancel()
    return answer, notified
