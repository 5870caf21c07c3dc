"""A look with no daemon: the devices read once (poll_once) and, for the one-shot commands, health collected now
(one_shot). Apart from the Box type (agent/collect) so that the poller, which makes the Box's parts, and the
look that runs the poller never import each other."""

from __future__ import annotations

from collections.abc import Mapping

from agent.collect import Box, DeviceState


def poll_once(cfg) -> Mapping[str, DeviceState]:
    """Read every configured device once: the poller's snapshot."""
    from agent.devices.poller import ModbusPoller

    poller = ModbusPoller.from_config(cfg)
    try:
        poller.poll_once()
        return poller.snapshot()
    finally:
        poller.close()


def one_shot(cfg, scan: bool = False) -> Box:
    """No daemon runs: the devices read once and health collected now. No fault history, no timeline."""
    from agent.health import collect_health, release_cache
    from agent.outbox import Outbox
    from agent.paths import outbox_dir

    devices = poll_once(cfg)
    health = collect_health(cfg, release_cache(cfg))
    outbox = Outbox(outbox_dir(cfg)).counts() if outbox_dir(cfg).is_dir() else None
    scans = None
    if scan:  # the self-check: where a device is silent, which other unit ids answer
        from agent.devices.scan import quick_scans

        scans = quick_scans({b.name: b for b in cfg.buses}, devices, cfg.profiles_dir)
    return Box(devices=devices, health=health, outbox=outbox, scans=scans)
