"""Health watching: a fresh health snapshot every health.interval_s (and on demand), off the polling
path, one collection at a time; each snapshot also feeds the health fault rules."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.config import AgentConfig
from agent.health import collect_health, release_cache
from agent.health.hooks import declared_secrets
from agent.redact import Secrets
from agent.worker import Ticker

log = logging.getLogger(__name__)


class HealthWatch:
    def __init__(
        self,
        cfg: AgentConfig,
        on_snapshot: Callable[[dict], None],
        mqtt_connected: Callable[[], bool | None],
        secrets: Secrets | None = None,
    ):
        self.cfg = cfg
        self._on_snapshot = on_snapshot
        self._mqtt_connected = mqtt_connected
        self.secrets = secrets  # what the hooks declare secret is scrubbed from every output from now on
        self.releases = release_cache(cfg)
        self.latest: dict | None = None
        self._lock = threading.Lock()  # one collection at a time: hooks never run twice at once
        self._rounds = Ticker("health", self._round, cfg.health.interval_s)

    def collect(self) -> dict:
        """A fresh snapshot (hooks, system, network, software), handed to the fault rules once the collection's
        lock is let go: the rules take their own."""
        with self._lock:
            health = collect_health(self.cfg, self.releases, self._mqtt_connected())
            if self.secrets is not None:
                self.secrets.add(declared_secrets(health["hooks"]))
            self.latest = health
        self._on_snapshot(health)
        return health

    def wake(self) -> None:
        """Look again now (e.g. the firmware announced an update)."""
        self._rounds.wake()

    def start(self) -> None:
        self._rounds.start()

    def stop(self, timeout: float) -> None:
        self._rounds.stop(timeout)

    def _round(self) -> None:
        from agent.service.memory import give_back

        try:
            self.collect()
        finally:
            give_back()  # the hooks' output and the probes' buffers go back to the board
