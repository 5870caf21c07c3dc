"""Glue for a charge point built on the `ocpp` package (mobilityhouse/ocpp, 1.6 or 2.0.1): it answers a CSMS's
GetLog (2.0.1, and 1.6's security extension) and GetDiagnostics (1.6) by handing them to diag-agent, and
sends the status notifications diag-agent reports, with the request's id.

The firmware keeps its own ChargePoint class and adds ours in front:

    from diag_agent_ocpp import DiagnosticsV201          # or DiagnosticsV16
    from ocpp.v201 import ChargePoint

    class MyChargePoint(DiagnosticsV201, ChargePoint):
        diag_agent = ["/opt/diag-agent/venv/bin/diag-agent", "ocpp-log"]   # the default

It talks to the agent through its documented command (`diag-agent ocpp-log`, README "OCPP"): the first JSON
line is the OCPP response, each further line one status change. Nothing here imports diag-agent.
"""

from __future__ import annotations

import asyncio
import json
import logging

from ocpp.routing import after, on

log = logging.getLogger("diag-agent-ocpp")
DIAG_AGENT = ["/opt/diag-agent/venv/bin/diag-agent", "ocpp-log"]


class _Delegate:
    diag_agent: list[str] = DIAG_AGENT

    async def _diag_start(self, fields: dict) -> dict:
        """Start `diag-agent ocpp-log` and read its first line: the OCPP response."""
        argv = list(self.diag_agent)
        for name, value in fields.items():
            if value is not None:
                argv += [f"--{name.replace('_', '-')}", str(value)]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL
        )
        line = await proc.stdout.readline()
        try:
            answer = json.loads(line)
        except ValueError:
            answer = {"status": "Rejected", "reason": "diag-agent did not answer"}
        if answer.get("status") == "Rejected":
            await proc.wait()
        else:  # followed from the after-handler, which runs for the requests in the order they came
            self.__dict__.setdefault("_diag_running", []).append(proc)
        return answer

    def _diag_spawn(self, notify) -> None:
        running = self.__dict__.get("_diag_running") or []
        if not running:
            return  # refused: nothing follows
        task = asyncio.ensure_future(self._diag_follow(running.pop(0), notify))
        self.__dict__.setdefault("_diag_tasks", set()).add(task)
        task.add_done_callback(self.__dict__["_diag_tasks"].discard)

    async def diag_settle(self) -> None:
        """Wait until every request handed to diag-agent has ended (for a clean shutdown)."""
        await asyncio.gather(*self.__dict__.get("_diag_tasks", ()), return_exceptions=True)

    async def _diag_follow(self, proc, notify) -> None:
        """Send a notification for every status line diag-agent prints for its request, in order."""
        async for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            try:
                await notify(event)
            except Exception as exc:  # the CSMS went away: diag-agent goes on; the next request will tell
                log.warning("status %s not sent: %s", event.get("status"), exc)
        await proc.wait()


def _window(log_parameters: dict) -> dict:
    return {
        "location": log_parameters.get("remote_location"),
        "oldest": log_parameters.get("oldest_timestamp"),
        "latest": log_parameters.get("latest_timestamp"),
    }


def _get_log(call, call_result, version: str):
    """GetLog as 2.0.1 and 1.6's security extension both have it (their own message classes, their own status
    words: diag-agent is told the VERSION)."""

    class GetLogDelegate(_Delegate):
        @on("GetLog")
        async def _diag_get_log(self, log, log_type, request_id, retries=None, retry_interval=None, **_):
            answer = await self._diag_start(
                {
                    "message": "GetLog",
                    "ocpp_version": version,
                    "request_id": request_id,
                    "log_type": log_type,
                    "retries": retries,
                    "retry_interval": retry_interval,
                    **_window(log),
                }
            )
            return call_result.GetLog(status=answer["status"], filename=answer.get("filename"))

        @after("GetLog")
        async def _diag_after_get_log(self, request_id, **_):
            async def notify(event):
                await self.call(call.LogStatusNotification(status=event["status"], request_id=request_id))

            self._diag_spawn(notify)

    return GetLogDelegate


def _v201():
    from ocpp.v201 import call, call_result

    class DiagnosticsV201(_get_log(call, call_result, "2.0.1")):
        pass

    return DiagnosticsV201


def _v16():
    from ocpp.v16 import call, call_result

    class DiagnosticsV16(_get_log(call, call_result, "1.6")):
        @on("GetDiagnostics")
        async def _diag_get_diagnostics(
            self, location, retries=None, retry_interval=None, start_time=None, stop_time=None, **_
        ):
            answer = await self._diag_start(
                {
                    "message": "GetDiagnostics",
                    "location": location,
                    "retries": retries,
                    "retry_interval": retry_interval,
                    "oldest": start_time,
                    "latest": stop_time,
                }
            )
            # 1.6 has no way to refuse: no file name says there will be no upload.
            return call_result.GetDiagnostics(file_name=answer.get("filename"))

        @after("GetDiagnostics")
        async def _diag_after_get_diagnostics(self, **_):
            async def notify(event):
                await self.call(call.DiagnosticsStatusNotification(status=event["status"]))

            self._diag_spawn(notify)

    return DiagnosticsV16


def __getattr__(name: str):  # import only the version the firmware uses
    if name == "DiagnosticsV201":
        return _v201()
    if name == "DiagnosticsV16":
        return _v16()
    raise AttributeError(name)
