"""The configuration's sections: one typed dataclass each, with defaults and limits (agent/schema.py), each
handed to the part that uses it (its slice of the configuration)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from agent.schema import REQUIRED, number, placeholder_problem

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
    port: int = number(502, 1, 65535)
    device: str = "/dev/ttyUSB0"
    baudrate: int = number(9600, 1200, 115200, "baud")
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = number(1, 1, 2)
    timeout_s: float = number(1.0, 0.05, 30, "s")
    retries: int = number(1, 0, 10)
    # The firmware polls the same RS-485 bus: share an advisory lock with it, and keep to a budget.
    lock_file: str | None = None
    lock_wait_s: float = number(2.0, 0, 60, "s")
    pause_ms: int = number(0, 0, 10_000, "ms")  # at least this long between any two requests on this bus
    budget_percent: float = number(5.0, 0.1, 100, "%")  # of the bus's time at its baud rate; serial buses only

    def validate(self) -> None:
        if self.baudrate not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
            raise ValueError(f"baudrate: expected a standard rate such as 9600, got {self.baudrate}")


@dataclass
class DeviceConfig:
    name: str
    bus: str
    profile: str
    unit: int = number(REQUIRED, 0, 255, "", "a Modbus unit id")


@dataclass
class PollConfig:
    interval_s: float = number(5.0, 0.2, 3600, "s")


@dataclass
class FaultConfig:
    unreachable_after_cycles: int = number(3, 1, 1000, "cycles")
    voltage_min_v: float = number(207.0, 100, 300, "V")  # EN 50160: 230 V -10 %
    voltage_max_v: float = number(253.0, 100, 300, "V")  # ... +10 %
    lost_phase_below_v: float = number(50.0, 0, 200, "V")
    supply_phases: int = number(3, 1, 3)  # 1 for a single-phase supply: L2 and L3 are then not judged
    frequency_min_hz: float = number(49.5, 40, 70, "Hz")
    frequency_max_hz: float = number(50.5, 40, 70, "Hz")
    charging_enabled_min_a: float = number(6.0, 0, 80, "A")
    # Below this no current flows: an SDM630 (class 1, Ib 10 A) starts registering at 0.4 % of Ib, 40 mA;
    # a car conditioning its full battery draws 0.3 A and more, which is charging (README, "Hold times").
    no_current_below_a: float = number(0.05, 0.001, 5, "A")
    cannot_charge_after_s: float = number(300.0, 10, 86400, "s")
    firmware_change_hold_s: float = number(3600.0, 0, 30 * 86400, "s")
    # a condition must hold this long before the fault is raised ...
    raise_after_s: float = number(10.0, 0, 3600, "s")
    clear_after_s: float = number(30.0, 0, 3600, "s")  # ... and be gone this long before it is cleared

    def validate(self) -> None:
        if self.supply_phases not in (1, 3):
            raise ValueError(f"supply_phases: expected 1 or 3, got {self.supply_phases}")
        if self.voltage_min_v >= self.voltage_max_v:
            raise ValueError("voltage_min_v: must be below voltage_max_v")
        if self.frequency_min_hz >= self.frequency_max_hz:
            raise ValueError("frequency_min_hz: must be below frequency_max_hz")


@dataclass
class HistorySettings:
    bucket_s: float = number(60.0, 1, 3600, "s")  # min/mean/max per bucket ...
    window_h: float = number(24.0, 1, 168, "h")  # ... over this window; the last hour is kept at full rate


@dataclass
class HooksConfig:
    dir: str | None = "/opt/diag-agent/hooks"
    timeout_s: float = number(10.0, 0.1, 300, "s")
    max_output_bytes: int = number(1 << 20, 1024, 64 << 20, "bytes")
    deadline_s: float = number(20.0, 1, 3600, "s")
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class NetworkConfig:
    connect_timeout_s: float = number(5.0, 0.5, 60, "s")
    dns_timeout_s: float = number(3.0, 0.5, 60, "s")
    # Ask the gateway for ARP when the kernel has no fresh entry (one UDP datagram to its port 9).
    check_gateway: bool = True


@dataclass
class SoftwareConfig:
    # Where the newest version of each channel is published: GET {releases_url}/{channel}.
    # Empty: the backend's /api/v1/releases.
    releases_url: str = ""
    refresh_s: float = number(6 * 3600.0, 600, 7 * 86400, "s")

    def validate(self) -> None:
        if self.releases_url and not self.releases_url.startswith("https://"):
            raise ValueError(f"releases_url: expected an https:// address, got {self.releases_url!r}")


@dataclass
class HealthConfig:
    interval_s: float = number(60.0, 5, 86400, "s")  # system, network, software and hooks, off the polling path
    disk_warn_percent: float = number(90.0, 1, 100, "%")
    disk_fail_percent: float = number(98.0, 1, 100, "%")
    soc_warn_c: float = number(75.0, 30, 150, "°C")
    soc_fail_c: float = number(85.0, 30, 150, "°C")
    memory_warn_percent: float = number(90.0, 1, 100, "%")
    hook_failures_before_fault: int = number(3, 1, 1000)

    def validate(self) -> None:
        if self.disk_warn_percent >= self.disk_fail_percent:
            raise ValueError("disk_warn_percent: must be below disk_fail_percent")
        if self.soc_warn_c >= self.soc_fail_c:
            raise ValueError("soc_warn_c: must be below soc_fail_c")


@dataclass
class DataBudget:
    """What the box may send and receive in a day and in a calendar month (a metered LTE plan); 0: no limit
    (both 0, the default: no budget). agent/transports/budget.py says what is counted and what it decides."""

    day_bytes: int = number(0, 0, 10**12, "bytes")
    month_bytes: int = number(0, 0, 10**13, "bytes")

    def validate(self) -> None:
        if self.day_bytes and self.month_bytes and self.day_bytes > self.month_bytes:
            raise ValueError("day_bytes: must not be above month_bytes")

    @property
    def enabled(self) -> bool:
        return bool(self.day_bytes or self.month_bytes)


@dataclass
class BackendConfig:
    url: str = ""
    ca_file: str | None = None
    client_cert: str | None = None  # mutual TLS: the box's certificate ...
    client_key: str | None = None  # ... and its key
    connect_timeout_s: float = number(5.0, 0.5, 120, "s")
    timeout_s: float = number(30.0, 1, 3600, "s")  # connect plus the whole answer
    retry_base_s: float = number(5.0, 0.01, 3600, "s")
    retry_max_s: float = number(600.0, 0.1, 86400, "s")
    # While a high-priority or on-site report waits, it is tried this often (70-100 % of it, drawn per try),
    # whatever the backoff of the rest: after an outage it goes within seconds of the backend's return.
    urgent_retry_s: float = number(30.0, 1, 3600, "s")
    # auto: MQTT when connected and the report fits the broker's packet limit, else HTTPS.
    transport: Literal["auto", "https", "mqtt"] = "auto"
    # The site's proxy, http://[user:password@]host:port; empty: HTTPS_PROXY and NO_PROXY from the environment.
    proxy: str = ""
    # Other hosts the backend may redirect to (its own always): a redirect elsewhere is refused.
    redirect_hosts: list[str] = field(default_factory=list)
    # Off by default; on a metered link: medium and low reports thinned, then deferred, as it runs low.
    data_budget: DataBudget = field(default_factory=DataBudget)

    def validate(self) -> None:
        if self.url and not self.url.startswith("https://"):
            raise ValueError(f"url: expected an https:// address, got {self.url!r}")
        if self.proxy:
            from urllib.parse import urlsplit

            parts = urlsplit(self.proxy)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("proxy: expected http://[user:password@]host:port")
        if self.retry_base_s > self.retry_max_s:
            raise ValueError("retry_base_s: must not be above retry_max_s")


@dataclass
class MqttConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = number(1883, 1, 65535)
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "diag-agent"
    keepalive_s: int = number(30, 5, 3600, "s")
    client_cert: str | None = None
    client_key: str | None = None
    protocol: Literal["auto", "5", "3.1.1"] = "auto"  # auto: MQTT 5, falling back to 3.1.1
    # 0: what the broker announces (MQTT 5), else 128 KiB
    max_packet_bytes: int = number(0, 0, 268_435_455, "bytes")
    publish_timeout_s: float = number(30.0, 1, 600, "s")

    def validate(self) -> None:
        if 0 < self.max_packet_bytes < 1024:
            raise ValueError(
                f"max_packet_bytes: 0 (what the broker says) or at least 1024, got {self.max_packet_bytes}"
            )


@dataclass
class OnSiteConfig:
    duration_s: float = number(4 * 3600.0, 60, 7 * 86400, "s")  # on-site mode ends by itself after this long


@dataclass
class ButtonConfig:
    enabled: bool = True
    pin: int = number(17, 0, 53, "", "a BCM GPIO number")  # BCM numbering; the button pulls it to ground
    led_pin: int | None = number(27, 0, 53, "", "a BCM GPIO number")
    pull_up: bool = True
    # a short press toggles on-site mode; holding this long sends a report
    long_press_s: float = number(3.0, 0.1, 30, "s")
    bounce_s: float = number(0.05, 0, 1, "s")


@dataclass
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"  # a LAN address needs a token
    port: int = number(8088, 1, 65535)
    token: str | None = None
    # Reports the page sends in an hour: a visit needs a few; a stuck button or a script must not open 300 cases.
    reports_per_hour: int = number(6, 1, 120)

    def validate(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1") and not (self.token and len(self.token) >= 16):
            raise ValueError("token: a page on a LAN address needs a token of at least 16 characters")


@dataclass
class CloudConfig:
    command_key: str | None = None  # the per-device HMAC key; without it cloud commands are refused
    max_skew_s: float = number(300.0, 10, 86400, "s")  # a command's timestamp may be this far from the box's clock
    max_command_bytes: int = number(8192, 256, 1 << 20, "bytes")


@dataclass
class SupportConfig:
    """The case conversation: where a report taken away by hand goes, and how the box reads its cases."""

    email: str = ""  # the support address the page shows next to a report's download
    subject: str = "Wallbox {serial}: {subject} [report {report_id}]"  # on site: "ON SITE - " goes first
    cases_url: str = ""  # the box's cases over HTTPS; empty: beside backend.url (.../devices/<id>/cases)
    # MQTT brings changes at once; HTTPS is read this often, and after a delivery
    cases_refresh_s: float = number(900.0, 30, 86400, "s")
    max_cases: int = number(50, 1, 1000)  # the box keeps the last state of this many cases
    # The per-box key support seals case states and MQTT receipts with (agent/wire.py); without it the box
    # believes neither: no case is shown and reports go by HTTPS only.
    case_key: str | None = None
    max_case_bytes: int = number(65536, 1024, 1 << 20, "bytes")  # one case state; larger ones are not parsed

    def validate(self) -> None:
        problem = placeholder_problem(self.subject, SUBJECT_PLACEHOLDERS)
        if problem:
            raise ValueError(f"subject: {problem}")


SUBJECT_PLACEHOLDERS = ("serial", "subject", "report_id")  # what support.subject may name (cases/view.py fills them)


@dataclass
class AutoReportConfig:
    enabled: bool = True  # a new fault of severity error or worse sends a report by itself
    # ... this long after it was raised, so that its company is in it
    debounce_s: float = number(60.0, 0, 3600, "s")
    # at most one report per fault code in this time
    per_code_interval_s: float = number(6 * 3600.0, 0, 7 * 86400, "s")
    daily_cap: int = number(5, 0, 100)  # and at most this many fault reports a day


@dataclass
class OutboxConfig:
    # over either quota the oldest delivered reports go first, then the
    max_bytes: int = number(50_000_000, 1_000_000, 10_000_000_000, "bytes")
    # oldest low- and medium-priority ones; never high priority or on-site
    max_reports: int = number(200, 1, 100_000)
    # reports found at start wait a random part of this (fleet manners)
    startup_jitter_s: float = number(30.0, 0, 3600, "s")


@dataclass
class ReportConfig:
    # compressed; over it, oldest log lines go first, then history resolution
    max_bytes: int = number(1_000_000, 20_000, 100_000_000, "bytes")
    wait_for_case_s: float = number(30.0, 0, 600, "s")
    pseudonymise: bool = False  # MAC and IP addresses and vehicle ids become consistent pseudonyms
    agent_log_lines: int = number(500, 0, 100_000)  # the agent's own newest log lines kept for reports


@dataclass
class RecorderConfig:
    """The flight recorder's (agent/recorder/)."""

    enabled: bool = True
    # The history's checkpoint: ~180 KB at 1 Hz, so ~4.3 MB a day at hourly.
    checkpoint_s: float = number(3600.0, 600, 86400, "s", "an SD card's wear")
    fault_before_s: float = number(300.0, 0, 3600, "s", "the raw history holds an hour")
    fault_after_s: float = number(120.0, 0, 3600, "s", "the raw history holds an hour")
    fault_windows: int = number(20, 1, 200)  # the newest kept; older ones go, and so does any over windows_max_bytes
    windows_max_bytes: int = number(2_000_000, 100_000, 50_000_000, "bytes")
