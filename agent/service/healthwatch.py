"""Health watching: a fresh health snapshot every health.interval_s (and on demand), off the polling
path, one collection at a time; each snapshot also feeds the health fault rules."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from agent.config import AgentConfig
from agent.health import collect_health, release_cache

log = logging.getLogger(__name__)


class HealthWatch:
    def __init__(self, cfg: AgentConfig, on_snapshot: Callable[[dict], None],
                 mqtt_connected: Callable[[], bool | None]):
        self.cfg, self._on_snapshot, self._mqtt_connected = cfg, on_snapshot, mqtt_connected
        self.releases = release_cache(cfg)
        self.latest: dict | None = None
        self._lock = threading.Lock()  # one collection at a time: hooks never run twice at once
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="health", daemon=True)

    def collect(self) -> dict:
        """A fresh snapshot (hooks, system, network, software)."""
        with self._lock:
            health = collect_health(self.cfg, self.releases, self._mqtt_connected())
            self.latest = health
            self._on_snapshot(health)
        return health

    def wake(self) -> None:
        """Look again now (e.g. the firmware announced an update)."""
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _work(self) -> None:
        from agent.service.memory import give_back

        while not self._stop.is_set():
            try:
                self.collect()
            except Exception:  # a collector bug must not end health watching for good
                log.exception("health collection failed")
            give_back()  # the hooks' output and the probes' buffers go back to the board
            self._wake.wait(timeout=self.cfg.health.interval_s)
            self._wake.clear()
