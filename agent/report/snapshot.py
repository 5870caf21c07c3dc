"""What a report is built from: one look at the box, taken by the running daemon or, with no daemon,
by reading the devices once and collecting health now."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config import AgentConfig


@dataclass
class BoxSnapshot:
    readings: dict  # the poller's snapshot: device -> values, reachability
    health: dict  # hooks, system, network, software (agent.health.collect_health)
    faults: list[dict] = field(default_factory=list)  # active faults
    timeline: list[dict] = field(default_factory=list)
    history: object = field(default_factory=dict)  # the history frozen for a report (devices/history.Frozen), or {}
    buses: dict = field(default_factory=dict)
    outbox: dict | None = None  # report counts by state
    mqtt_connected: bool | None = None
    mqtt_problem: str | None = None  # why the broker connection last failed, in words
    mqtt_not_authorized: bool = False  # the broker refused the box's credentials
    agent_log: list[str] = field(default_factory=list)
    recorder: dict = field(default_factory=dict)  # the flight recorder's: last stop, fault windows on disk
    scans: dict | None = None  # for the self-check: other unit ids that answer where a device is silent


def poll_once(cfg: AgentConfig) -> dict:
    """Read every configured device once; the poller's snapshot."""
    from agent.devices.poller import ModbusPoller

    poller = ModbusPoller.from_config(cfg)
    try:
        poller.poll_once()
        return poller.snapshot()
    finally:
        poller.close()


def one_shot(cfg: AgentConfig, scan: bool = False) -> BoxSnapshot:
    """No daemon runs: the devices read once and health collected now. No fault history, no timeline."""
    from agent.health import collect_health, release_cache
    from agent.outbox import Outbox
    from agent.paths import outbox_dir

    readings = poll_once(cfg)
    health = collect_health(cfg, release_cache(cfg))
    outbox = Outbox(outbox_dir(cfg)).counts() if outbox_dir(cfg).is_dir() else None
    scans = None
    if scan:  # the self-check: where a device is silent, which other unit ids answer
        from agent.devices.scan import quick_scans

        scans = quick_scans({b.name: b for b in cfg.buses}, readings, cfg.profiles_dir)
    return BoxSnapshot(readings=readings, health=health, outbox=outbox, scans=scans)
