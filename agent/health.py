"""One health snapshot of the box: hooks, system, network and software, collected off the polling path."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.collect.network import collect_network
from agent.collect.software import ReleaseCache, collect_software
from agent.collect.system import collect_system
from agent.config import AgentConfig
from agent.hooks import run_hooks


def release_cache(cfg: AgentConfig) -> ReleaseCache:
    return ReleaseCache(cfg.releases_url(), Path(cfg.state_dir) / "releases.json", cfg.backend.ca_file,
                        cfg.software.refresh_s, timeout_s=cfg.network.connect_timeout_s)


def collect_health(cfg: AgentConfig, releases: ReleaseCache, mqtt_connected: bool | None = None) -> dict:
    """Every health section at once; the hooks run in parallel while the rest is read."""
    started = time.monotonic()
    h = cfg.hooks
    broker = (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.tls, cfg.mqtt.ca_file) if cfg.mqtt.enabled else None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hooks") as pool:
        pending = pool.submit(run_hooks, h.dir, cfg.hook_env(), h.timeout_s, h.max_output_bytes, h.deadline_s)
        system = collect_system(cfg.state_dir)
        network = collect_network(cfg.backend.url, cfg.backend.ca_file, broker, cfg.network.connect_timeout_s,
                                  cfg.network.dns_timeout_s, mqtt_connected, cfg.network.check_gateway)
        hooks = pending.result()
    return {
        "hooks": hooks,
        "system": system,
        "network": network,
        "software": collect_software(hooks, releases),
        "collected_in_s": round(time.monotonic() - started, 3),
    }
