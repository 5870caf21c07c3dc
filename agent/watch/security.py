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
from pathlib import Path
from typing import Callable

from agent.storage import read_json, write_atomic, write_json
from agent.clock import wall as wall_clock
from agent.paths import state_path

log = logging.getLogger(__name__)
MAX_BYTES = 256 * 1024  # over it, the older half goes
PER_KIND_PER_HOUR = 30  # more of one kind within an hour are counted in the next line written
CLOCK_JUMP_S = 60.0


class SecurityLog:
    def __init__(self, state_dir: str | Path, clock: Callable[[], float] = wall_clock):
        self.path = state_path(state_dir, "security_log")
        self._clock = clock
        self._lock = threading.Lock()
        self._written: dict[str, list[float]] = {}
        self._suppressed: dict[str, int] = {}
        self._last: tuple[float, float] | None = None  # wall and monotonic at the last clock check

    def record(self, kind: str, message: str) -> None:
        """Never raises: a full disk loses a security line, not the daemon."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._written.get(kind, []) if now - t < 3600]
            if len(recent) >= PER_KIND_PER_HOUR:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                self._written[kind] = recent
                return
            entry = {"wall": round(now, 3), "kind": kind, "message": message[:300]}
            skipped = self._suppressed.pop(kind, 0)
            if skipped:
                entry["before_this"] = f"{skipped} more not written"
            self._written[kind] = recent + [now]
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
                if self.path.stat().st_size > MAX_BYTES:
                    self._halve()
            except OSError as exc:
                log.warning("security event %s not kept: %s", kind, exc)

    def _halve(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        newer = "".join(lines[len(lines) // 2:]).encode()
        write_atomic(self.path, lambda f: f.write(newer))

    def events(self, oldest: float | None = None, latest: float | None = None) -> list[dict]:
        out = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            try:
                e = json.loads(line)
            except ValueError:  # a line a power cut broke off
                continue
            if (oldest is None or e["wall"] >= oldest) and (latest is None or e["wall"] <= latest):
                out.append(e)
        return out

    def config_loaded(self, cfg) -> None:
        """At start: a configuration that differs from the last one run is a security event (its fingerprint is
        kept, never the configuration, which holds secrets)."""
        digest = hashlib.sha256(json.dumps(cfg.as_dict(), sort_keys=True, default=str).encode()).hexdigest()
        memory = self.path.with_name("config-seen.json")
        seen = read_json(memory, {}).get("sha256")
        if seen != digest:
            self.record("config_changed", "the configuration differs from the one last run" if seen else
                        "first start with this configuration")
            try:
                write_json(memory, {"sha256": digest})
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
