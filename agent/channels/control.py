"""The control-socket channel: the CLI's way to the running daemon, one JSON request line in, one JSON
answer line out. The handlers take the parts they need (desk, status, on-site, events), not the daemon."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable

from agent.channels import Conversation, Desk, EventSink, OnSiteSwitch, StatusSource
from agent.request import check_request

log = logging.getLogger(__name__)
MAX_REQUEST = 64 * 1024
Handler = Callable[[dict], dict]


class NotRunning(Exception):
    """No daemon answers on the control socket."""


class NoAnswer(Exception):
    """The daemon took the request but closed the connection without an answer (it stopped, or was
    killed): the request may have been carried out, so it must not be made again by someone else."""


MAX_CLIENTS = 16  # connections handled at once; more are refused at once, never queued on a thread each
READ_TIMEOUT_S = 10.0  # a client that does not send its request line within this is dropped


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, handler):
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(path, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b'{"ok": false, "error": "busy: too many control connections at once"}\n')
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        import sys

        log.warning("control: a request failed: %s", sys.exc_info()[1])


class ControlServer:
    def __init__(self, path: str, handlers: dict[str, Handler]):
        self.path = path
        handlers = dict(handlers)

        class Request(socketserver.StreamRequestHandler):
            def handle(self):
                self.request.settimeout(READ_TIMEOUT_S)
                try:
                    line = self.rfile.readline(MAX_REQUEST + 1)
                except OSError:  # a half-sent request: the client is dropped, the thread ends
                    return
                self.request.settimeout(None)
                try:
                    if len(line) > MAX_REQUEST:
                        raise ValueError("request too long")
                    msg = json.loads(line)
                    if not isinstance(msg, dict) or msg.get("command") not in handlers:
                        raise ValueError(f"unknown command; known: {', '.join(sorted(handlers))}")
                    args = msg.get("args") or {}
                    if not isinstance(args, dict):
                        raise ValueError("args: expected an object")
                    answer = handlers[msg["command"]](args)
                except (ValueError, RecursionError) as exc:
                    answer = {"ok": False, "error": str(exc) if isinstance(exc, ValueError) else "request too deep"}
                except Exception as exc:  # a bug in one handler must not take the daemon down
                    log.exception("control command failed")
                    answer = {"ok": False, "error": f"internal error: {type(exc).__name__}"}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        if os.path.exists(path):
            os.unlink(path)  # a stale socket from a killed daemon
        self._server = _Server(path, Request)
        os.chmod(path, 0o660)
        self._thread = threading.Thread(target=self._server.serve_forever, name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def call(path: str, command: str, args: dict | None = None, timeout: float = 10.0) -> dict:
    """Send one command to the running daemon; NotRunning when none is there to take it, NoAnswer when
    it took the request and went away without answering."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(json.dumps({"command": command, "args": args or {}}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise NotRunning(f"no daemon on {path}") from None
    except TimeoutError:
        raise TimeoutError(f"the daemon did not answer within {timeout:.0f} s") from None
    except OSError as exc:  # reset while waiting: it took the request
        raise NoAnswer(f"the daemon dropped the connection ({exc.strerror or exc})") from None
    if not data:
        raise NoAnswer("the daemon closed the connection without an answer (it may have stopped)")
    try:
        return json.loads(data)
    except ValueError:
        raise NoAnswer(f"the daemon's answer was cut short ({len(data)} bytes)") from None


def handlers(
    desk: Desk,
    status: StatusSource,
    onsite: OnSiteSwitch,
    events: EventSink,
    wait_for_case_s: float,
    talk: Conversation,
    ocpp=None,
) -> dict[str, Handler]:
    """What the control socket answers: report, status, check, event, onsite, scan, cases, answer, retry,
    ocpp_log and ocpp_status (the OCPP delegate, channels/ocpp.py), ping."""
    from agent.channels.events import check_event

    def report(args: dict) -> dict:
        args = dict(args)
        wait, export = args.pop("wait_s", wait_for_case_s), args.pop("out", False)
        request = check_request(args, reason="cli")  # RequestError is a ValueError: the answer names the fields
        if not isinstance(wait, (int, float)) or isinstance(wait, bool) or not 0 <= wait <= 300:
            raise ValueError("wait_s: expected 0-300 seconds")
        if export is True:
            report_id, data = desk.export(request)
            return {"ok": True, "report_id": report_id, "bundle": base64.b64encode(data).decode()}
        report_id = desk.submit(request)
        state = desk.wait(report_id, timeout=wait) or {}
        return {
            "ok": True,
            "report_id": report_id,
            "priority": state.get("priority"),
            "receipt": {
                "case": state["case"],
                "priority": state["priority"],
                "report_id": report_id,
                "attached": state["attached"],
            }
            if state.get("state") == "delivered"
            else None,
            "state": state.get("state"),
            "note": state.get("note"),
            "error": state.get("error"),
        }

    def onsite_cmd(args: dict) -> dict:
        action = args.get("action")
        if action in ("on", "off"):
            onsite.set(action == "on", "cli")
        elif action != "status":
            raise ValueError("action: expected on, off or status")
        return {"ok": True, "onsite": onsite.to_dict()}

    def event(args: dict) -> dict:
        events.apply(check_event(args))
        return {"ok": True}

    def scan(args: dict) -> dict:
        from agent.devices.scan import parse_units

        budget, timeout = args.get("budget_s", 120.0), args.get("timeout_s", 0.2)
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 3600 for v in (budget, timeout)
        ):
            raise ValueError("budget_s and timeout_s: expected seconds")
        units = parse_units(str(args.get("units", "1-247")))
        return {"ok": True, "scans": status.scan(args.get("bus"), units, float(budget), float(timeout))}

    return {
        "report": report,
        "status": lambda a: {"ok": True, **status.status()},
        "check": lambda a: {"ok": True, **status.check()},
        "event": event,
        "onsite": onsite_cmd,
        "scan": scan,
        "cases": lambda a: {"ok": True, **talk.view()},
        "retry": lambda a: {"ok": True, "report": talk.retry(a.get("report_id"))},
        "answer": lambda a: {
            "ok": True,
            **talk.answer(a.get("case"), a.get("question"), a.get("text"), a.get("with_report") is True),
        },
        "ocpp_log": lambda a: {"ok": True, **ocpp.request(a)},
        "ocpp_status": lambda a: _ocpp_status(ocpp, a.get("since")),
        "ping": lambda a: {"ok": True, "pid": os.getpid()},
    }


def _ocpp_status(ocpp, since: object) -> dict:
    """The OCPP delegate's status changes after the first SINCE (a whole number, else 0)."""
    events, upto = ocpp.events(since if isinstance(since, int) and not isinstance(since, bool) and since >= 0 else 0)
    return {"ok": True, "events": events, "next": upto}
