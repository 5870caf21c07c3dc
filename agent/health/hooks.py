"""Run the firmware's hook executables: in parallel, each with a time limit and an output cap.

The contract (firmware_hooks/README.md): an executable in the hooks folder is called with one
argument, `collect`, and the environment the configuration gives it; it prints one JSON object on
stdout and exits 0. A non-zero exit, a hang, too much output or bad JSON is a failed hook, recorded
with the tail of its stderr; it never stops the agent.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

STDERR_TAIL = 2048
MAX_DEPTH = 32  # deeper hook output is refused: every later stage (redaction, the report) walks it


def depth(obj, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply OBJ nests (iteratively: a deep document cannot exhaust the stack here)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > limit:
            return level
        if isinstance(item, dict):
            stack += [(v, level + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, level + 1) for v in item]
    return deepest


@dataclass
class HookResult:
    name: str
    ok: bool
    output: dict | None = None
    error: str | None = None
    stderr_tail: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def declared_secrets(results: dict) -> list[str]:
    """The values the hooks of one look declare secret ({"secrets": [...]} in their output)."""
    found = []
    for result in results.values():
        declared = (getattr(result, "output", None) or {}).get("secrets")
        found += [s for s in declared if isinstance(s, str)] if isinstance(declared, list) else []
    return found


def find_hooks(folder: str | Path | None) -> list[Path]:
    if not folder or not Path(folder).is_dir():
        return []
    return sorted(
        p
        for p in Path(folder).iterdir()
        if p.is_file()
        and os.access(p, os.X_OK)
        and not p.name.startswith(".")
        and not p.name.endswith(("~", ".md", ".bak", ".disabled"))
    )


@dataclass
class _Running:
    path: Path
    proc: subprocess.Popen
    started: float
    deadline: float
    out: bytearray
    err: bytearray
    error: str | None = None


def run_hooks(
    folder: str | Path | None,
    env: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    max_output_bytes: int = 1 << 20,
    deadline_s: float = 20.0,
    args: tuple[str, ...] = ("collect",),
    only: set[str] | None = None,
) -> dict[str, HookResult]:
    """Run every hook at once; each ends by its own time limit, all by DEADLINE_S."""
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **(env or {})}
    exchange = _Exchange(min(timeout_s, deadline_s), max_output_bytes)
    results: dict[str, HookResult] = {}
    start = time.monotonic()
    for path in find_hooks(folder):
        if only is None or path.name in only:
            try:
                exchange.start(path, args, base_env, min(start + deadline_s, time.monotonic() + timeout_s))
            except OSError as exc:
                results[path.name] = HookResult(path.name, False, error=f"cannot start: {exc.strerror}")
    exchange.run()
    results.update(exchange.finish())
    return dict(sorted(results.items()))


class _Exchange:
    """The hooks' processes and their pipes, read together under one deadline each. One deadline over the whole
    exchange, not over wait() alone: a hook that closes its output and hangs, or leaves a child holding its pipe,
    is killed with its whole process group at its time."""

    def __init__(self, limit_s: float, max_output_bytes: int):
        self.limit_s, self.max_output_bytes = limit_s, max_output_bytes
        self.running: list[_Running] = []
        self.open: dict[int, int] = {}  # id(_Running) -> its pipes not yet at EOF
        self.sel = selectors.DefaultSelector()

    def start(self, path: Path, args: tuple[str, ...], env: dict[str, str], deadline: float) -> None:
        proc = subprocess.Popen(
            [str(path), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            cwd="/",
        )
        r = _Running(path, proc, time.monotonic(), deadline, bytearray(), bytearray())
        self.running.append(r)
        self.open[id(r)] = 2
        for stream in _pipes(proc):
            os.set_blocking(stream.fileno(), False)
            self.sel.register(stream, selectors.EVENT_READ, r)

    def run(self) -> None:
        while self.open:
            now = time.monotonic()
            self._expire(now)
            if not self.open:
                break
            nearest = min(r.deadline for r in self.running if id(r) in self.open)
            for key, _ in self.sel.select(timeout=max(0.01, min(nearest - now, 0.5))):
                self._read(key)
        self.sel.close()

    def _expire(self, now: float) -> None:
        for r in self.running:
            if id(r) in self.open and now >= r.deadline:
                r.error = r.error or f"did not finish within {self.limit_s:g} s"
                _kill(r.proc)
                for stream in _pipes(r.proc):  # stop waiting for an EOF that may never come
                    if stream.fileno() in self.sel.get_map():
                        self.sel.unregister(stream)
                del self.open[id(r)]

    def _read(self, key: selectors.SelectorKey) -> None:
        r: _Running = key.data
        try:
            chunk = os.read(key.fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            self.sel.unregister(key.fileobj)
            self.open[id(r)] -= 1
            if self.open[id(r)] == 0:
                del self.open[id(r)]
        elif key.fileobj is not r.proc.stdout:
            r.err += chunk
            del r.err[:-STDERR_TAIL]
        elif len(r.out) + len(chunk) <= self.max_output_bytes:
            r.out += chunk
        elif r.error is None:
            r.error = f"printed more than {self.max_output_bytes} bytes"
            _kill(r.proc)

    def finish(self) -> dict[str, HookResult]:
        results = {}
        for r in self.running:
            # Its output is closed; it gets what is left of its time to exit. Not reaped yet: while the
            # hook is a zombie its process group id cannot be taken by anyone else, so the kill is safe.
            if not _exited(r.proc, r.deadline):
                r.error = r.error or f"closed its output but did not exit within {self.limit_s:g} s"
            _kill(r.proc)  # the group: no child of a hook outlives it, finished or not
            r.proc.wait()
            for stream in _pipes(r.proc):
                stream.close()
            results[r.path.name] = _result(r)
        return results


def _exited(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait until PROC exits or DEADLINE passes, without reaping it."""
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the hook and anything it started
    except ProcessLookupError:
        pass


def _result(r: _Running) -> HookResult:
    res = HookResult(
        r.path.name,
        False,
        stderr_tail=r.err.decode(errors="replace").strip()[-STDERR_TAIL:],
        exit_code=r.proc.returncode,
        duration_s=round(time.monotonic() - r.started, 3),
    )
    if r.error:
        res.error = r.error
    elif r.proc.returncode != 0:
        res.error = f"exited with code {r.proc.returncode}"
    else:
        res.output, res.error = _output(bytes(r.out))
        res.ok = res.error is None
    return res


def _output(out: bytes) -> tuple[dict | None, str | None]:
    """A hook's stdout as its facts, or why it is not: (output, None) or (None, error)."""
    try:
        output = json.loads(out)
    except ValueError as exc:
        return None, f"stdout is not valid JSON ({getattr(exc, 'msg', exc)})"
    except RecursionError:
        return None, f"stdout is nested deeper than {MAX_DEPTH} levels"
    if not isinstance(output, dict):
        return None, "stdout is JSON but not an object"
    if depth(output) > MAX_DEPTH:
        return None, f"stdout is nested deeper than {MAX_DEPTH} levels"
    return output, None


def _pipes(proc: subprocess.Popen) -> tuple[IO[bytes], IO[bytes]]:
    """A hook's stdout and stderr (it is always started with both piped)."""
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout, proc.stderr
