"""The security log: what an operator's SecurityLog request (OCPP GetLog, logType SecurityLog) must show. Rejected
cloud commands, refused page tokens, configuration changes, firmware updates, clock jumps: one JSON line each
in STATE/security.log, kept across restarts and bounded in size and in writes (a flood of refusals is counted,
not written line by line)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.clock import Window
from agent.clock import wall as wall_clock
from agent.paths import state_path
from agent.ratelimit import RateLimit
from agent.storage import StateFile, append_line, read_lines

log = logging.getLogger(__name__)
MAX_BYTES = 256 * 1024  # over it, only the newest KEEP_LINES stay (a line is at most ~400 bytes)
KEEP_LINES, MAX_LINES = 500, 10_000  # 500 lines of at most ~400 bytes stay under MAX_BYTES
PER_KIND_PER_HOUR = 30  # more of one kind within an hour are counted in the next line written
CLOCK_JUMP_S = 60.0


class SecurityLog:
    def __init__(self, state_dir: str | Path, clock: Callable[[], float] = wall_clock):
        self.path = state_path(state_dir, "security_log")
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = RateLimit(PER_KIND_PER_HOUR, 3600.0, clock)
        self._last: tuple[float, float] | None = None  # wall and monotonic at the last clock check

    def record(self, kind: str, message: str) -> None:
        """Never raises: a full disk loses a security line, not the daemon."""
        allowed, skipped = self._limit.allow(kind)
        if not allowed:
            return
        with self._lock:
            entry = {"wall": round(self._clock(), 3), "kind": kind, "message": message[:300]}
            if skipped:
                entry["before_this"] = f"{skipped} more not written"
            try:
                append_line(self.path, json.dumps(entry).encode() + b"\n", MAX_BYTES, KEEP_LINES)
            except OSError as exc:
                log.warning("security event %s not kept: %s", kind, exc)

    def bundle(self, cfg, window: tuple, known: list[str]) -> tuple[str, bytes]:
        """The OCPP SecurityLog of WINDOW as a bundle, scrubbed of the KNOWN secrets too (the report
        pipeline loads on first use)."""
        from agent.report.build import export_security_log

        return export_security_log(cfg, self.events(*window), window, known)

    def events(self, oldest: float | None = None, latest: float | None = None) -> list[dict]:
        span = Window(oldest, latest)
        return [e for e in read_lines(self.path, MAX_LINES) if isinstance(e, dict) and e.get("wall", 0) in span]

    def config_loaded(self, cfg) -> None:
        """At start: a configuration that differs from the last one run is a security event (its fingerprint is
        kept, never the configuration, which holds secrets)."""
        digest = hashlib.sha256(json.dumps(cfg.as_dict(), sort_keys=True, default=str).encode()).hexdigest()
        memory = StateFile(state_path(self.path.parent, "config_seen"), {"sha256": ""})
        seen = memory.load()["sha256"]
        if seen != digest:
            self.record(
                "config_changed",
                "the configuration differs from the one last run" if seen else "first start with this configuration",
            )
            try:
                memory.save({"sha256": digest})
            except OSError as exc:
                log.warning("the configuration's fingerprint is not kept: %s", exc)

    def check_clock(self, mono: float | None = None) -> float | None:
        """Called now and then: the wall clock moved against the monotonic one (a set clock, an NTP step);
        returns the jump, or None."""
        wall, mono = self._clock(), time.monotonic() if mono is None else mono
        jump = None
        if self._last is not None:
            moved = (wall - self._last[0]) - (mono - self._last[1])
            if abs(moved) > CLOCK_JUMP_S:
                self.record("clock_jump", f"the clock jumped {moved:+.0f} s")
                jump = moved
        self._last = (wall, mono)
        return jump
