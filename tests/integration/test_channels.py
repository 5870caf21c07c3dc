"""Every channel ends in a case: the button, on-site mode, fault-triggered reports, the CLI."""

from __future__ import annotations

import json
import threading
import time

import pytest

from agent import config
from agent.channels.button import DELIVERED, FAILED
from agent.service.daemon import Daemon
from rigs import peers


class InProcess:
    """A Daemon on a thread of the test, so gpiozero's mock pins are the test's to press."""

    def __init__(self, cfg, pin_factory=None):
        self.daemon = Daemon(cfg, pin_factory=pin_factory)
        self.thread = threading.Thread(target=self.daemon.run, kwargs={"handle_signals": False}, daemon=True)

    def __enter__(self):
        self.thread.start()
        peers.wait_for(
            lambda: (
                self.daemon.notifier is not None
                and self.daemon.button is not None
                or not self.daemon.cfg.button.enabled
            ),
            10,
            "the daemon's channels",
        )
        return self.daemon

    def __exit__(self, *exc):
        self.daemon.stop_event.set()
        self.thread.join(10)


def blinks(panel) -> list[tuple]:
    """Record the LED's blink steps (on seconds, off seconds, times) as the panel asks gpiozero for them."""
    shown: list[tuple] = []
    real = panel.led.blink

    def blink(on_time=1.0, off_time=1.0, n=None, background=True, **kw):
        shown.append((on_time, off_time, n))
        return real(on_time=on_time, off_time=off_time, n=n, background=background, **kw)

    panel.led.blink = blink
    return shown


@pytest.fixture
def rig_cfg(tmp_path, make_config, intake, certs):
    def make(**extra):
        path = make_config(
            backend={"url": intake.info["url"], "ca_file": certs["ca"]},
            extra={"button": {"pin": 17, "led_pin": 27, "long_press_s": 0.3, "bounce_s": 0}, **extra},
        )
        return config.load(path)

    return make


def cases(tmp_path):
    return peers.intake_cases(tmp_path / "intake-run" / "intake")


def test_button_short_press_toggles_on_site_and_long_press_sends_a_report(tmp_path, rig_cfg):
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    with InProcess(rig_cfg(), factory) as daemon:
        button, led = factory.pin(17), factory.pin(27)
        button.drive_low()
        button.drive_high()  # a short press
        peers.wait_for(lambda: daemon.onsite.active, 5, "on-site mode on")
        peers.wait_for(lambda: led.state, 5, "the LED steady on")
        assert daemon.onsite.state().channel == "button"
        shown = blinks(daemon.button.panel)
        button.drive_low()
        peers.wait_for(lambda: daemon.button.panel._held, 5, "a long press")
        button.drive_high()
        (case,) = peers.wait_for(lambda: cases(tmp_path), 20, "a case from the button")
        assert case["priority"] == "high" and case["on_site"] and case["subject"] == "Report from the button on the box"
        # Delivered: three slow blinks, then back to steady (on-site).
        peers.wait_for(lambda: shown[-1:] == list(DELIVERED), 15, "the delivered pattern on the LED")
        assert FAILED[0] not in shown
        peers.wait_for(lambda: led.state, 5, "the LED steady again (on-site)")
        button.drive_low()
        button.drive_high()
        peers.wait_for(lambda: not daemon.onsite.active, 5, "on-site mode off")
        peers.wait_for(lambda: not led.state, 5, "the LED off")
    kinds = [(e["kind"], e["code"]) for e in daemon.timeline.to_list() if e["code"].startswith("onsite")]
    assert kinds == [("event", "onsite_started"), ("event", "onsite_ended")]


def test_without_gpio_the_button_is_off_with_one_log_line(rig_cfg, caplog):
    caplog.set_level("INFO")
    with InProcess(rig_cfg()) as daemon:
        assert daemon.button is not None and not daemon.button.panel.available
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.channels.button"]
    assert lines == ["no GPIO chip on this machine: the button is off"]


def test_on_site_mode_persists_and_ends_by_itself(tmp_path, rig_cfg, cli, agent_process):
    cfg = rig_cfg(onsite={"duration_s": 60})
    path = tmp_path / "agent.yaml"
    assert "ON (by cli)" in cli("onsite", "on", "--config", path).stdout  # no daemon: the state file
    agent = agent_process(path)
    assert "ON (by cli)" in cli("onsite", "status", "--config", path).stdout
    result = cli("report", "--config", path, *peers.report_argv("while on site"))
    assert "(high priority)" in result.stdout, result.stdout + result.stderr
    agent.stop()
    # Sixty seconds later, as the box's clock sees it: the state file says when it expires.
    state = json.loads((tmp_path / "state" / "onsite.json").read_text())
    state["expires"] = time.time() - 1
    (tmp_path / "state" / "onsite.json").write_text(json.dumps(state))
    agent_process(path)
    assert "on-site mode is off" in cli("onsite", "status", "--config", path).stdout
    assert cfg.onsite.duration_s == 60
    result = cli("report", "--config", path, *peers.report_argv("after on site"))
    assert "(low priority)" in result.stdout


def test_a_new_error_fault_sends_a_report_once_within_its_limits(
    tmp_path, simulator, sim_bus, make_config, intake, certs, cli, agent_process
):
    path = make_config(
        buses=[sim_bus],
        devices=peers.sim_devices(),
        poll_interval_s=0.5,
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        extra={
            "faults": {"raise_after_s": 0, "clear_after_s": 0},
            "auto_report": {"debounce_s": 1, "per_code_interval_s": 3600, "daily_cap": 5},
        },
    )
    agent = agent_process(path)
    peers.simulator_command(simulator, "fault", "vehicle_failure", "on")
    (case,) = peers.wait_for(
        lambda: [c for c in cases(tmp_path) if "vehicle_failure" in c["subject"]], 20, "a fault report"
    )
    assert case["priority"] == "medium" and case["subject"] == "Fault vehicle_failure on evse"
    # The fault clears and comes back: within the rate limit there is no second report.
    peers.simulator_command(simulator, "fault", "vehicle_failure", "off")
    peers.wait_for(lambda: "vehicle_failure" not in cli("status", "--json", "--config", path).stdout, 10, "clear")
    peers.simulator_command(simulator, "fault", "vehicle_failure", "on")
    peers.wait_for(
        lambda: json.loads(cli("status", "--json", "--config", path).stdout)["auto_reports"]["suppressed"] == 1,
        10,
        "the repeat suppressed",
    )
    # The limit survives a restart.
    agent.stop()
    state = json.loads((tmp_path / "state" / "auto_reports.json").read_text())
    assert state["sent_today"] == 1 and "vehicle_failure" in state["last_by_code"]
    assert len([c for c in cases(tmp_path) if "vehicle_failure" in c["subject"]]) == 1


def test_a_failed_button_report_flashes_short_and_stays_in_the_outbox(tmp_path, make_config):
    from gpiozero.pins.mock import MockFactory

    path = make_config(
        backend={"url": f"https://127.0.0.1:{peers.free_port()}/api/v1/reports"},
        extra={
            "button": {"pin": 17, "led_pin": 27, "long_press_s": 0.2, "bounce_s": 0},
            "report": {"wait_for_case_s": 2},
        },
    )
    factory = MockFactory()
    with InProcess(config.load(path), factory) as daemon:
        button, led = factory.pin(17), factory.pin(27)
        shown = blinks(daemon.button.panel)
        button.drive_low()
        peers.wait_for(lambda: daemon.button.panel._held, 5, "a long press")
        button.drive_high()
        peers.wait_for(lambda: shown[-len(FAILED) :] == list(FAILED), 15, "the failure's pattern on the LED")
        assert (0.5, 0.5, 3) not in shown  # never the delivered pattern
        peers.wait_for(lambda: not led.state, 5, "the LED dark again (not on-site)")
        (entry,) = daemon.outbox.entries()
        assert not entry.delivered and entry.extra["reason"] == "button"
