"""The agent's configuration: one YAML file loaded into typed objects with defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent.config.sections import (  # noqa: F401  (every section is the package's to hand out)
    TOPIC_LEVEL,
    AutoReportConfig,
    BackendConfig,
    BusConfig,
    ButtonConfig,
    CloudConfig,
    DeviceConfig,
    DeviceIdentity,
    FaultConfig,
    HealthConfig,
    HistorySettings,
    HooksConfig,
    MqttConfig,
    NetworkConfig,
    OnSiteConfig,
    OutboxConfig,
    PollConfig,
    RecorderConfig,
    ReportConfig,
    SoftwareConfig,
    SupportConfig,
    WebConfig,
)
from agent.schema import SchemaError, error_at, load_file

DEFAULT_PATH = "/etc/diag-agent/agent.yaml"
ConfigError = SchemaError  # a configuration or profile that cannot be used; the CLI exits with code 2


@dataclass
class AgentConfig:
    device: DeviceIdentity = field(default_factory=DeviceIdentity)
    state_dir: str = "/var/lib/diag-agent"
    profiles_dir: str = "profiles"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    buses: list[BusConfig] = field(default_factory=list)
    devices: list[DeviceConfig] = field(default_factory=list)
    poll: PollConfig = field(default_factory=PollConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    history: HistorySettings = field(default_factory=HistorySettings)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)  # agent/recorder/
    hooks: HooksConfig = field(default_factory=HooksConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    software: SoftwareConfig = field(default_factory=SoftwareConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    onsite: OnSiteConfig = field(default_factory=OnSiteConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    web: WebConfig = field(default_factory=WebConfig)
    cloud: CloudConfig = field(default_factory=CloudConfig)
    auto_report: AutoReportConfig = field(default_factory=AutoReportConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    language: str = "en"  # of the page, the hints, the status lines and report.html: a file in agent/lang/
    timezone: str = "UTC"  # times shown to people are in this zone, with its offset; the data stays in UTC

    def as_dict(self) -> dict:
        """The whole configuration as data (for the report, which redacts it)."""
        return dataclasses.asdict(self)

    def secrets(self) -> list[str]:
        """Every secret value in the configuration, for scrubbing by value: the passwords, tokens and keys,
        and every value handed to the hooks in hooks.env (where firmware makers put their credentials)."""
        from urllib.parse import urlsplit

        return [
            v
            for v in (
                urlsplit(self.backend.proxy).password,  # the site's proxy may want a login
                urlsplit(self.backend.url).password,
                self.mqtt.password,
                self.web.token,
                self.cloud.command_key,
                self.support.case_key,
                *self.hooks.env.values(),
            )
            if v
        ]


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None or value == "":
        return value
    p = Path(value)
    return str(p if p.is_absolute() else (base / p).resolve())


def load(path: str | Path) -> AgentConfig:
    """Load and check the configuration at PATH; raise ConfigError naming file, line and key."""
    path = Path(path)
    cfg = load_file(path, AgentConfig)
    _cross_check(cfg)
    # Relative paths are relative to the config file, so a checkout runs as it is.
    base = path.resolve().parent
    cfg.state_dir = _resolve(base, cfg.state_dir)
    cfg.profiles_dir = _resolve(base, cfg.profiles_dir)
    d = cfg.device
    for key in ("firmware_version_file", "commissioning_protocol", "cloud_credentials_file"):
        setattr(d, key, _resolve(base, getattr(d, key)))
    d.firmware_logs = [_resolve(base, p) for p in d.firmware_logs]
    cfg.hooks.dir = _resolve(base, cfg.hooks.dir)
    for section in (cfg.backend, cfg.mqtt):
        for key in ("ca_file", "client_cert", "client_key"):
            value = _resolve(base, getattr(section, key))
            setattr(section, key, value)
            if value and not Path(value).is_file():  # found now, not as four tracebacks in `check` later
                raise error_at(section, key, f"no such file: {value}")
    for bus in cfg.buses:
        bus.lock_file = _resolve(base, bus.lock_file)
    return cfg


def _cross_check(cfg: AgentConfig) -> None:
    """What one section cannot check alone: the box's identity, names unique, what names another section."""
    from agent.lang import locale_problems

    _check_identity(cfg)
    for key, problem in locale_problems(cfg.language, cfg.timezone):
        raise error_at(cfg, key, problem)
    if cfg.backend.transport == "mqtt" and not cfg.mqtt.enabled:
        raise error_at(cfg.backend, "transport", "mqtt needs mqtt.enabled: true")
    buses = _unique(cfg.buses, "bus")
    _unique(cfg.devices, "device")
    for dev in cfg.devices:
        if dev.bus not in buses:
            raise error_at(dev, "bus", f"no bus named {dev.bus!r} (buses: {', '.join(sorted(buses)) or 'none'})")


def _check_identity(cfg: AgentConfig) -> None:
    d = cfg.device
    if not d.identity:
        where, key = (d, "serial") if hasattr(d, "_yaml_where") else (cfg, "device")
        raise error_at(
            where, key, "the box needs an identity: set device.serial (or, without one, device.order_number)"
        )
    if not TOPIC_LEVEL.match(d.identity):
        raise error_at(
            d,
            "serial" if d.serial else "order_number",
            f"{d.identity!r} cannot name the box: use letters, digits, '-', '_' and '.' (at most 64)",
        )


def _unique(items: list, what: str) -> set[str]:
    """The names of ITEMS (buses or devices), each defined once; the second definition is the error."""
    names: set[str] = set()
    for item in items:
        if item.name in names:
            raise error_at(item, "name", f"{what} {item.name!r} is defined twice")
        names.add(item.name)
    return names
