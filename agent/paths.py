"""Every file and folder the agent keeps under its state folder, named in one place, so the CLI, the
daemon and the person who looks in the folder agree on what each one is."""

from __future__ import annotations

from pathlib import Path

from agent.config import AgentConfig

# name -> the file or folder under the state folder; the comment says who writes it and why it is kept.
STATE = {
    "control": "control.sock",  # channels/control.py: the CLI asks the running daemon here
    "outbox": "outbox",  # outbox/spool.py: each report's bundle and its delivery state
    "outbox_stats": "outbox-stats.json",  # outbox/spool.py: what the quota evicted
    "recorder": "recorder",  # recorder/: the timeline file, checkpoints and fault windows
    "events": "events",  # channels/events.py: firmware events queued while the daemon is down
    "security_log": "security.log",  # security.py: the OCPP security log
    "config_seen": "config-seen.json",  # security.py: the fingerprint of the configuration last run
    "cases": "cases.json",  # cases/book.py: what support published of each case
    "pseudonym_key": "pseudonym.key",  # report/build.py: the key that pseudonymises identifiers
    "nonces": "nonces.json",  # channels/cloud.py: command nonces seen (replays are refused)
    "auto_reports": "auto_reports.json",  # channels/fault_reports.py: rate limits of fault reports
    "onsite": "onsite.json",  # onsite.py: on-site mode survives a restart
    "releases": "releases.json",  # health/software.py: the last known release list
    "mqtt": "mqtt.json",  # transports/mqtt_version.py: the MQTT version that last worked (a record)
    "data_budget": "data-budget.json",  # transports/budget.py: bytes used today and this month on a metered link
    "firmware_versions": "firmware_versions.json",  # watch/faults.py: a firmware update while the agent was down
}


def state_path(state_dir: str | Path, name: str) -> Path:
    return Path(state_dir) / STATE[name]


def control_socket_path(cfg: AgentConfig) -> str:
    return str(state_path(cfg.state_dir, "control"))


def outbox_dir(cfg: AgentConfig) -> Path:
    return state_path(cfg.state_dir, "outbox")
