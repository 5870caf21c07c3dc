"""The agent's configuration: one YAML file loaded into typed objects with defaults."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from agent.schema import SchemaError, error_at, load_file
from agent.watch.recorder import RecorderSettings

DEFAULT_PATH = "/etc/diag-agent/agent.yaml"
ConfigError = SchemaError  # a configuration or profile that cannot be used; the CLI exits with code 2


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"port: expected 1-65535, got {port}")


# A box's identity names its MQTT topics and its reports: one safe topic level, never empty.
TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class DeviceIdentity:
    model: str = "unknown"
    serial: str = ""
    order_number: str = ""  # the box's identity when it has no serial number
    # Device facts the firmware hooks read (passed to them as environment variables).
    firmware_version_file: str = "/etc/wallbox/version"
    commissioning_protocol: str = "/var/lib/wallbox/commissioning.pdf"
    cloud_credentials_file: str = "/etc/wallbox/cloud.json"
    firmware_logs: list[str] = field(default_factory=lambda: ["/var/log/wallbox/firmware.log"])

    @property
    def identity(self) -> str:
        """The serial number, else the order number: what topics and reports name the box by."""
        return self.serial.strip() or self.order_number.strip()


@dataclass
class BusConfig:
    name: str
    type: Literal["tcp", "rtu"]
    host: str = "127.0.0.1"
    port: int = 502
    device: str = "/dev/ttyUSB0"
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    timeout_s: float = 1.0
    retries: int = 1
    # The firmware polls the same RS-485 bus: share an advisory lock with it, and keep to a budget.
    lock_file: Optional[str] = None
    lock_wait_s: float = 2.0
    pause_ms: int = 0  # at least this long between any two requests on this bus
    budget_percent: float = 5.0  # of the bus's time at its baud rate; serial buses only

    def validate(self) -> None:
        if not 0 < self.budget_percent <= 100:
            raise ValueError(f"budget_percent: expected more than 0 and at most 100, got {self.budget_percent}")
        _check_port(self.port)
        if self.baudrate not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
            raise ValueError(f"baudrate: expected a standard rate such as 9600, got {self.baudrate}")
        if not 0.05 <= self.timeout_s <= 30:
            raise ValueError(f"timeout_s: expected 0.05-30 seconds, got {self.timeout_s}")


@dataclass
class DeviceConfig:
    name: str
    bus: str
    profile: str
    unit: int

    def validate(self) -> None:
        if not 0 <= self.unit <= 255:
            raise ValueError(f"unit: expected a Modbus unit id 0-255, got {self.unit}")


@dataclass
class PollConfig:
    interval_s: float = 5.0

    def validate(self) -> None:
        if not 0.2 <= self.interval_s <= 3600:
            raise ValueError(f"interval_s: expected 0.2-3600 seconds, got {self.interval_s}")


@dataclass
class FaultConfig:
    unreachable_after_cycles: int = 3
    voltage_min_v: float = 207.0  # EN 50160: 230 V -10 %
    voltage_max_v: float = 253.0  # ... +10 %
    lost_phase_below_v: float = 50.0
    supply_phases: int = 3  # 1 for a single-phase supply: L2 and L3 are then not judged
    frequency_min_hz: float = 49.5
    frequency_max_hz: float = 50.5
    charging_enabled_min_a: float = 6.0
    no_current_below_a: float = 0.5
    cannot_charge_after_s: float = 300.0
    firmware_change_hold_s: float = 3600.0
    raise_after_s: float = 10.0  # a condition must hold this long before the fault is raised ...
    clear_after_s: float = 30.0  # ... and be gone this long before it is cleared

    def validate(self) -> None:
        if self.unreachable_after_cycles < 1:
            raise ValueError("unreachable_after_cycles: expected 1 or more")
        if self.supply_phases not in (1, 3):
            raise ValueError(f"supply_phases: expected 1 or 3, got {self.supply_phases}")
        if self.voltage_min_v >= self.voltage_max_v:
            raise ValueError("voltage_min_v: must be below voltage_max_v")
        if self.frequency_min_hz >= self.frequency_max_hz:
            raise ValueError("frequency_min_hz: must be below frequency_max_hz")


@dataclass
class HistorySettings:
    bucket_s: float = 60.0  # min/mean/max per bucket ...
    window_h: float = 24.0  # ... over this window; the last hour is kept at full rate

    def validate(self) -> None:
        if not 1 <= self.bucket_s <= 3600:
            raise ValueError(f"bucket_s: expected 1-3600 seconds, got {self.bucket_s}")
        if not 1 <= self.window_h <= 168:
            raise ValueError(f"window_h: expected 1-168 hours, got {self.window_h}")


@dataclass
class HooksConfig:
    dir: Optional[str] = "/opt/diag-agent/hooks"
    timeout_s: float = 10.0
    max_output_bytes: int = 1 << 20
    deadline_s: float = 20.0
    env: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if not 0.1 <= self.timeout_s <= 300:
            raise ValueError(f"timeout_s: expected 0.1-300 seconds, got {self.timeout_s}")
        if self.max_output_bytes < 1024:
            raise ValueError(f"max_output_bytes: expected at least 1024, got {self.max_output_bytes}")


@dataclass
class NetworkConfig:
    connect_timeout_s: float = 5.0
    dns_timeout_s: float = 3.0
    # Ask the gateway for ARP when the kernel has no fresh entry (one UDP datagram to its port 9).
    check_gateway: bool = True


@dataclass
class SoftwareConfig:
    # Where the newest version of each channel is published: GET {releases_url}/{channel}.
    # Empty: the backend's /api/v1/releases.
    releases_url: str = ""
    refresh_s: float = 6 * 3600.0

    def validate(self) -> None:
        if self.releases_url and not self.releases_url.startswith("https://"):
            raise ValueError(f"releases_url: expected an https:// address, got {self.releases_url!r}")


@dataclass
class HealthConfig:
    interval_s: float = 60.0  # system, network, software and hooks, off the polling path
    disk_warn_percent: float = 90.0
    disk_fail_percent: float = 98.0
    soc_warn_c: float = 75.0
    soc_fail_c: float = 85.0
    memory_warn_percent: float = 90.0
    hook_failures_before_fault: int = 3

    def validate(self) -> None:
        if not 5 <= self.interval_s <= 86400:
            raise ValueError(f"interval_s: expected 5-86400 seconds, got {self.interval_s}")


@dataclass
class BackendConfig:
    url: str = ""
    ca_file: Optional[str] = None
    client_cert: Optional[str] = None  # mutual TLS: the box's certificate ...
    client_key: Optional[str] = None  # ... and its key
    connect_timeout_s: float = 5.0
    timeout_s: float = 30.0  # connect plus the whole answer
    retry_base_s: float = 5.0
    retry_max_s: float = 600.0
    # auto: MQTT when connected and the report fits the broker's packet limit, else HTTPS.
    transport: Literal["auto", "https", "mqtt"] = "auto"

    def validate(self) -> None:
        if self.url and not self.url.startswith("https://"):
            raise ValueError(f"url: expected an https:// address, got {self.url!r}")


@dataclass
class MqttConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    ca_file: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    topic_prefix: str = "diag-agent"
    keepalive_s: int = 30
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    protocol: Literal["auto", "5", "3.1.1"] = "auto"  # auto: MQTT 5, falling back to 3.1.1
    max_packet_bytes: int = 0  # 0: what the broker announces (MQTT 5), else 128 KiB
    publish_timeout_s: float = 30.0

    def validate(self) -> None:
        _check_port(self.port)


@dataclass
class OnSiteConfig:
    duration_s: float = 4 * 3600.0  # on-site mode ends by itself after this long

    def validate(self) -> None:
        if not 60 <= self.duration_s <= 7 * 86400:
            raise ValueError(f"duration_s: expected 60 seconds to 7 days, got {self.duration_s}")


@dataclass
class ButtonConfig:
    enabled: bool = True
    pin: int = 17  # BCM numbering; the button pulls it to ground
    led_pin: Optional[int] = 27
    pull_up: bool = True
    long_press_s: float = 3.0  # a short press toggles on-site mode; holding this long sends a report
    bounce_s: float = 0.05


@dataclass
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"  # a LAN address needs a token
    port: int = 8088
    token: Optional[str] = None

    def validate(self) -> None:
        _check_port(self.port)
        if self.host not in ("127.0.0.1", "localhost", "::1") and not (self.token and len(self.token) >= 16):
            raise ValueError("token: a page on a LAN address needs a token of at least 16 characters")


@dataclass
class CloudConfig:
    command_key: Optional[str] = None  # the per-device HMAC key; without it cloud commands are refused
    max_skew_s: float = 300.0  # a command's timestamp may be this far from the box's clock
    max_command_bytes: int = 8192


@dataclass
class SupportConfig:
    """The case conversation: where a report taken away by hand goes, and how the box reads its cases."""
    email: str = ""  # the support address the page shows next to a report's download
    subject: str = "Wallbox {serial}: {subject} [report {report_id}]"  # on site: "ON SITE - " goes first
    cases_url: str = ""  # the box's cases over HTTPS; empty: beside backend.url (.../devices/<id>/cases)
    cases_refresh_s: float = 900.0  # MQTT brings changes at once; HTTPS is read this often, and after a delivery
    max_cases: int = 50  # the box keeps the last state of this many cases


@dataclass
class AutoReportConfig:
    enabled: bool = True  # a new fault of severity error or worse sends a report by itself
    debounce_s: float = 60.0  # ... this long after it was raised, so that its company is in it
    per_code_interval_s: float = 6 * 3600.0  # at most one report per fault code in this time
    daily_cap: int = 5  # and at most this many fault reports a day


@dataclass
class OutboxConfig:
    max_bytes: int = 50_000_000  # over either quota the oldest delivered reports go first, then the
    max_reports: int = 200  # oldest low- and medium-priority ones; never high priority or on-site
    startup_jitter_s: float = 30.0  # reports found at start wait a random part of this (fleet manners)


@dataclass
class ReportConfig:
    max_bytes: int = 1_000_000  # compressed; over it, oldest log lines go first, then history resolution
    wait_for_case_s: float = 30.0
    pseudonymise: bool = False  # MAC and IP addresses and vehicle ids become consistent pseudonyms
    agent_log_lines: int = 500  # the agent's own newest log lines kept for reports

    def validate(self) -> None:
        if self.max_bytes < 20_000:
            raise ValueError(f"max_bytes: expected at least 20000, got {self.max_bytes}")
        if not 0 <= self.agent_log_lines <= 100_000:
            raise ValueError(f"agent_log_lines: expected 0-100000, got {self.agent_log_lines}")


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
    recorder: RecorderSettings = field(default_factory=RecorderSettings)  # agent/watch/recorder.py
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
        return [v for v in (self.mqtt.password, self.web.token, self.cloud.command_key, *self.hooks.env.values())
                if v]


def _resolve(base: Path, value: Optional[str]) -> Optional[str]:
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
    def fail(obj, key, problem):
        raise error_at(obj, key, problem)

    d = cfg.device
    if not d.identity:
        where, key = (d, "serial") if hasattr(d, "_yaml_where") else (cfg, "device")
        fail(where, key, "the box needs an identity: set device.serial (or, without one, device.order_number)")
    if not TOPIC_LEVEL.match(d.identity):
        fail(d, "serial" if d.serial else "order_number",
             f"{d.identity!r} cannot name the box: use letters, digits, '-', '_' and '.' (at most 64)")

    names: set[str] = set()
    for bus in cfg.buses:
        if bus.name in names:
            fail(bus, "name", f"bus {bus.name!r} is defined twice")
        names.add(bus.name)
    from agent.lang import locale_problems

    for key, problem in locale_problems(cfg.language, cfg.timezone):
        fail(cfg, key, problem)
    if cfg.backend.transport == "mqtt" and not cfg.mqtt.enabled:
        fail(cfg.backend, "transport", "mqtt needs mqtt.enabled: true")
    seen: set[str] = set()
    for dev in cfg.devices:
        if dev.bus not in names:
            fail(dev, "bus", f"no bus named {dev.bus!r} (buses: {', '.join(sorted(names)) or 'none'})")
        if dev.name in seen:
            fail(dev, "name", f"device {dev.name!r} is defined twice")
        seen.add(dev.name)
