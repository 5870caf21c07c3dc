"""The cloud channel: commands over MQTT, authenticated (HMAC over the payload, a timestamp window, a nonce never
accepted twice), checked field by field, and answered with accepted or rejected and why.

A command is one JSON object: {"id": NONCE, "ts": UNIX_SECONDS, "type": TYPE, "args": {...}, "sig": HEX}
where sig = HMAC-SHA256(device key, canonical JSON of {"args", "id", "ts", "type"}).
Nothing in a command names a program or a file: it can only ask for what a report collects anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent import wire
from agent.channels import Desk, OnSiteSwitch, Replier
from agent.clock import wall as wall_clock
from agent.config import CloudConfig
from agent.contract import CLOUD_COMMANDS, NONCE
from agent.paths import state_path
from agent.ratelimit import RateLimit
from agent.report.sections import SECTION_NAMES
from agent.request import RequestError, check_request
from agent.storage import StateFile
from agent.transports.base import DeliveryError
from agent.wire import nesting
from agent.worker import Worker

log = logging.getLogger(__name__)
TYPES = CLOUD_COMMANDS
SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_DEPTH = 8  # a command is shallow: anything deeper is refused before it is walked
HEAD_BYTES = 4096  # of an oversized command, only this much is kept (for the id it claims)
CLAIMED_ID = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_-]{8,64})"')


class _Oversized(bytes):
    """The head of a command refused for its size; SIZE is how large it was."""

    size: int

    def __new__(cls, head: bytes, size: int):
        obj = super().__new__(cls, head)
        obj.size = size
        return obj


MAX_NONCES = 10_000


class Rejected(Exception):
    """A command that is not carried out; the message is the reason sent back."""


def canonical(command: dict) -> bytes:
    try:  # the one canonical JSON of what the backend signs (agent/wire.py)
        return wire.canonical({k: command[k] for k in ("args", "id", "ts", "type")})
    except wire.WireError:  # a lone surrogate, a NaN, deep nesting
        raise Rejected("the command cannot be put in canonical form") from None


def sign(key: str, command: dict) -> dict:
    """The cloud side: a signed command ready to publish."""
    return dict(command, sig=hmac.new(key.encode(), canonical(command), hashlib.sha256).hexdigest())


class NonceStore:
    """Nonces seen within the time window, persisted so a restart does not reopen the door to replays."""

    def __init__(self, path: Path, window_s: float, clock: Callable[[], float] = wall_clock):
        self._file = StateFile(path, durable=True)
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {n: t for n, t in self._file.load().items() if isinstance(t, (int, float))}

    def add(self, nonce: str, ts: float) -> bool:
        """Record NONCE; False when it was seen before."""
        with self._lock:
            now = self._clock()
            self._seen = {n: t for n, t in self._seen.items() if now - t <= 2 * self.window_s}
            if nonce in self._seen:
                return False
            if len(self._seen) >= MAX_NONCES:
                raise Rejected("too many commands in the time window")
            self._seen[nonce] = ts
            try:  # a nonce that cannot be kept could be replayed after a restart: refuse instead
                self._file.save(self._seen)
            except OSError as exc:
                del self._seen[nonce]
                raise Rejected(f"the box cannot record the command ({exc.strerror or exc})") from None
            return True


def _text(args: dict, name: str, required: bool = False) -> str | None:
    """A text argument's type; its limits are the one validator's (request.py)."""
    value = args.get(name)
    if value is None:
        if required:
            raise Rejected(f"args.{name} is required")
        return None
    if not isinstance(value, str):
        raise Rejected(f"args.{name}: expected text")
    return value


def check_args(kind: str, args: dict) -> dict:
    allowed = {
        "report": {"subject", "description", "case_ref", "sections"},
        "more_data": {"case_ref", "description", "sections"},
        "onsite": {"on"},
        "ping": set(),
    }[kind]
    unknown = set(args) - allowed
    if unknown:
        raise Rejected(f"unknown args: {', '.join(sorted(map(str, unknown)))}")
    out: dict = {}
    if kind in ("report", "more_data"):
        out["subject"] = _text(args, "subject") if kind == "report" else None
        out["description"] = _text(args, "description")
        out["case_ref"] = _text(args, "case_ref", required=kind == "more_data")
        sections = args.get("sections", [])
        if not isinstance(sections, list) or any(s not in SECTION_NAMES for s in sections):
            raise Rejected(f"args.sections: expected a list of {', '.join(SECTION_NAMES)}")
        out["sections"] = sections
    if kind == "onsite":
        if not isinstance(args.get("on"), bool):
            raise Rejected("args.on: expected true or false")
        out["on"] = args["on"]
    return out


class CommandGate:
    """Turns raw MQTT payloads into checked commands, or Rejected with a reason."""

    def __init__(
        self,
        key: str | None,
        nonces: NonceStore,
        max_skew_s: float,
        max_bytes: int,
        clock: Callable[[], float] = wall_clock,
    ):
        self.key = key
        self.nonces = nonces
        self.max_skew_s = max_skew_s
        self.max_bytes = max_bytes
        self._clock = clock

    def check(self, payload: bytes) -> dict:
        """The command in PAYLOAD once its shape, its signature, its time and its id are good; Rejected otherwise."""
        cmd = _shaped(payload, self.max_bytes)
        if not self.key:
            raise Rejected("cloud commands are not enabled on this box (no cloud.command_key)")
        expected = hmac.new(self.key.encode(), canonical(cmd), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, cmd["sig"].lower()):
            raise Rejected("bad signature")
        if abs(self._clock() - cmd["ts"]) > self.max_skew_s:
            raise Rejected(f"timestamp more than {self.max_skew_s:g} s from the box's clock")
        args = check_args(cmd["type"], cmd["args"])
        if not self.nonces.add(cmd["id"], cmd["ts"]):
            raise Rejected("replayed: this id was accepted before")
        return {"id": cmd["id"], "type": cmd["type"], "args": args}


def _shaped(payload: bytes, max_bytes: int) -> dict:
    """PAYLOAD parsed within its bounds, with exactly a command's fields of the right kinds (not yet believed)."""
    try:  # its size and depth before anything is parsed
        cmd = wire.parse(payload, max_bytes, MAX_DEPTH)
    except wire.WireError as exc:
        raise Rejected(f"command {exc}") from None
    if not isinstance(cmd, dict) or set(cmd) != {"id", "ts", "type", "args", "sig"}:
        raise Rejected("expected exactly the fields id, ts, type, args, sig")
    if not isinstance(cmd["id"], str) or not NONCE.match(cmd["id"]):
        raise Rejected("id: expected 8-64 letters, digits, '-' or '_'")
    if not isinstance(cmd["ts"], (int, float)) or isinstance(cmd["ts"], bool) or not math.isfinite(cmd["ts"]):
        raise Rejected("ts: expected a finite number of seconds")
    if cmd["type"] not in TYPES:
        raise Rejected(f"type: expected one of {', '.join(TYPES)}")
    if not isinstance(cmd["args"], dict) or not isinstance(cmd["sig"], str) or not SIGNATURE.match(cmd["sig"]):
        raise Rejected("args must be an object and sig 64 hex digits")
    return cmd


class RejectionLog:
    """One log line per rejected command, but no flood: past 10 a minute, a count instead."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        security: Callable[[str, str], None] = lambda kind, message: None,
    ):
        self._limit = RateLimit(10, 60.0, clock)
        self._security = security  # the security log (security.py) keeps each, bounded by itself

    def __call__(self, reason: str) -> None:
        self._security("cloud_command_rejected", reason)
        allowed, skipped = self._limit.allow()
        if allowed:
            more = f" ({skipped} more rejected before this one, not logged)" if skipped else ""
            log.warning("cloud command rejected: %s%s", reason, more)


class CommandWorker:
    """Takes commands off paho's network thread, one at a time, and answers each on <base>/reply."""

    def __init__(
        self,
        cfg: CloudConfig,
        state_dir: str,
        desk: Desk,
        onsite: OnSiteSwitch,
        replier: Replier,
        clock: Callable[[], float] = wall_clock,
        security: Callable[[str, str], None] = lambda k, m: None,
    ):
        self.desk = desk
        self.onsite = onsite
        self.replier = replier
        nonces = NonceStore(state_path(state_dir, "nonces"), cfg.max_skew_s, clock)
        self.gate = CommandGate(cfg.command_key, nonces, cfg.max_skew_s, cfg.max_command_bytes, clock)
        self._work = Worker("commands", maxsize=200, say_full=False)
        self._rejection_log = RejectionLog(security=security)
        self.counts = {"accepted": 0, "rejected": 0, "dropped": 0}
        self._counts_lock = threading.Lock()  # paho's thread counts drops, the worker the rest

    def _count(self, what: str) -> None:
        with self._counts_lock:
            self.counts[what] += 1

    def start(self) -> None:
        self._work.start()

    def stop(self) -> None:
        self._work.stop(timeout=2)

    def offer(self, payload: bytes, correlation: bytes | None) -> None:
        """From paho's network thread: hand over, never block it. An oversized payload is refused here,
        so a flood of them cannot fill the queue (and the memory) before the gate sees them."""
        if len(payload) > self.gate.max_bytes:  # refused by its size alone: only its head is kept
            payload = _Oversized(payload[:HEAD_BYTES], len(payload))
        if not self._work.submit(
            self._run, payload, correlation
        ):  # a flood: the rest waits for the sender to try again
            self._count("dropped")

    def _run(self, payload: bytes, correlation: bytes | None) -> None:
        try:
            self._handle(payload, correlation)
        except Exception as exc:  # one bad command must not end the worker; counted, one short line
            self._count("dropped")
            self._rejection_log(f"not handled ({type(exc).__name__}: {str(exc)[:100]})")

    def _handle(self, payload: bytes, correlation: bytes | None) -> None:
        try:
            if isinstance(payload, _Oversized):
                raise Rejected(f"command larger than {self.gate.max_bytes} bytes ({payload.size})")
            cmd = self.gate.check(payload)
            result = self._execute(cmd)
        except Rejected as exc:
            self._count("rejected")
            self._rejection_log(str(exc))
            self._reply({"id": _claimed_id(payload), "status": "rejected", "reason": str(exc)}, correlation)
            return
        self._count("accepted")
        log.info("cloud command %s (%s) accepted", cmd["type"], cmd["id"])
        self._reply({"id": cmd["id"], "status": "accepted", "result": result}, correlation)

    def _execute(self, cmd: dict) -> dict:
        from agent import __version__

        args, kind = cmd["args"], cmd["type"]
        if kind == "ping":
            return {"pong": time.time(), "agent_version": __version__}
        if kind == "onsite":
            self.onsite.set(args["on"], "cloud")
            return {"onsite": self.onsite.to_dict()}
        if kind == "report":
            fields = {
                "subject": args["subject"] or "Report requested by remote support",
                "description": args["description"] or "Remote support asked the box for a system report.",
            }
        else:
            fields = {
                "subject": f"More data for case {args['case_ref']}",
                "description": args["description"] or f"Remote support asked for more data on {args['case_ref']}.",
            }
        try:
            request = check_request(
                dict(fields, case_ref=args["case_ref"], sections=args["sections"]),
                "cloud" if kind == "report" else "cloud-follow-up",
            )
        except RequestError as exc:
            raise Rejected(f"args: {exc}") from None
        try:
            return {"report_id": self.desk.submit(request)}
        except (ValueError, TimeoutError) as exc:
            raise Rejected(f"the report could not be made: {exc}") from None

    def _reply(self, answer: dict, correlation: bytes | None) -> None:
        try:
            self.replier.publish("reply", json.dumps(answer), timeout=10, correlation=correlation)
        except DeliveryError as exc:
            log.info("reply to a cloud command not published: %s", exc)


def _claimed_id(payload: bytes) -> str | None:
    """The id a rejected command claims, when it is a plausible one: never echo arbitrary input.
    Only a payload the gate could have parsed is parsed here."""
    if isinstance(payload, _Oversized) or len(payload) > 64 * 1024 or nesting(payload) > MAX_DEPTH:
        m = CLAIMED_ID.search(bytes(payload[:HEAD_BYTES]))  # read, not parsed
        return m.group(1).decode() if m else None
    try:
        claimed = json.loads(payload).get("id")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return None
    return claimed if isinstance(claimed, str) and NONCE.match(claimed) else None
