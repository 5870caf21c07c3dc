"""The one pattern for work off the caller's thread: a named thread with an owner that starts and stops it,
taking calls from a bounded queue, in order.

The polling thread hands what may be slow (a durable write, a report request) to a Worker and goes on;
a full queue refuses the call and says so rather than growing without bound, and stop() lets what is
queued finish within a deadline, so nothing runs on after its owner has stopped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()


class Worker:
    def __init__(self, name: str, maxsize: int = 64, say_full: bool = True):
        self.name, self._say_full = name, say_full  # a flood's owner counts what it drops, one line each is noise
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None

    def start(self) -> Worker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def submit(self, fn: Callable, *args) -> bool:
        """Run FN(*ARGS) on the worker's thread; False (and a log line) if the queue is full."""
        try:
            self._queue.put_nowait((fn, args))
            return True
        except queue.Full:
            if self._say_full:
                log.error(
                    "%s: %d calls wait already; %s is dropped",
                    self.name,
                    self._queue.maxsize,
                    getattr(fn, "__qualname__", fn),
                )
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._queue.task_done()
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # one bad call must not end the worker: every later one would be lost
                log.exception("%s: %s failed", self.name, getattr(fn, "__qualname__", fn))
            finally:
                self._queue.task_done()

    @property
    def idle(self) -> bool:
        """Every call given so far has run."""
        return self._queue.unfinished_tasks == 0

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the calls queued so far finish (within TIMEOUT), then end the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("%s: still busy at stop", self.name)
        self._thread.join(timeout)
        self._thread = None


class Ticker:
    """A named thread that runs ROUND at once and then every INTERVAL_S, sooner when woken, until its owner
    stops it: the health rounds, the case refresh. ROUND's exceptions are logged; the next round comes."""

    def __init__(self, name: str, round_: Callable[[], None], interval_s: float):
        self.name = name
        self._round = round_
        self.interval_s = interval_s
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except Exception:  # a bug in one round must not end the rounds for good
                log.exception("%s: a round failed", self.name)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
