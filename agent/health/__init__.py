"""One health snapshot of the box: hooks, system, network and software, collected off the polling path."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from agent.config import AgentConfig
from agent.paths import state_path

log = logging.getLogger(__name__)


def releases_url(cfg: AgentConfig) -> str:
    """Where the newest version of each channel is published: software.releases_url, else the backend's
    /api/v1/releases."""
    if cfg.software.releases_url:
        return cfg.software.releases_url.rstrip("/")
    if not cfg.backend.url:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(cfg.backend.url)
    return f"{parts.scheme}://{parts.netloc}/api/v1/releases"


def release_cache(cfg: AgentConfig):
    from agent.health.software import ReleaseCache

    return ReleaseCache(
        releases_url(cfg),
        state_path(cfg.state_dir, "releases"),
        cfg.backend.ca_file,
        cfg.software.refresh_s,
        timeout_s=cfg.network.connect_timeout_s,
    )


def collect_health(cfg: AgentConfig, releases, mqtt_connected: bool | None = None) -> dict:
    """Every health section at once; the hooks run in parallel while the rest is read."""
    from agent.health.hooks import run_hooks
    from agent.health.network import collect_network
    from agent.health.software import collect_software
    from agent.health.system import collect_system
    from agent.transports.http import proxy_for

    started = time.monotonic()
    h = cfg.hooks
    m, b = cfg.mqtt, cfg.backend
    broker = (m.host, m.port, m.tls, (m.ca_file, m.client_cert, m.client_key)) if m.enabled else None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hooks") as pool:
        pending = pool.submit(run_hooks, h.dir, hook_env(cfg), h.timeout_s, h.max_output_bytes, h.deadline_s)
        system = _guarded("system", collect_system, cfg.state_dir)
        network = _guarded(
            "network",
            collect_network,
            b.url,
            (b.ca_file, b.client_cert, b.client_key),
            broker,
            cfg.network.connect_timeout_s,
            cfg.network.dns_timeout_s,
            mqtt_connected,
            cfg.network.check_gateway,
            proxy_for(b.url, b.proxy),
        )
        hooks = pending.result()
    return {
        "hooks": hooks,
        "system": system,
        "network": network,
        "software": _guarded("software", collect_software, hooks, releases),
        "collected_in_s": round(time.monotonic() - started, 3),
    }


# What a failed collector leaves, so that checks and reports still read every field they need.
FALLBACK: dict[str, dict] = {
    "system": {"memory": {"used_percent": None}, "disk": {"error": "not collected"}, "clock_synced": None},
    "network": {"checked": False, "failed_step": None, "steps": {}},
    "software": {
        "firmware_version": "unknown",
        "channel": "stable",
        "current": None,
        "latest": {"version": None, "error": "not collected"},
        "firmware_hook_error": None,
    },
}


def _guarded(name: str, collector, *args) -> dict:
    """Run one collector; a bug in it becomes an "error" in its section, never a lost report."""
    try:
        return collector(*args)
    except Exception as exc:
        log.exception("the %s collector failed", name)
        return dict(FALLBACK[name], error=f"{type(exc).__name__}: {exc}"[:300])


def hook_env(cfg: AgentConfig) -> dict[str, str]:
    """What the hooks are told: where the firmware keeps its files, and hooks.env."""
    d = cfg.device
    return {
        "FIRMWARE_VERSION_FILE": d.firmware_version_file,
        "COMMISSIONING_PROTOCOL": d.commissioning_protocol,
        "CLOUD_CREDENTIALS_FILE": d.cloud_credentials_file,
        "FIRMWARE_LOGS": ":".join(d.firmware_logs),
        **cfg.hooks.env,
    }
