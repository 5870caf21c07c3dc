"""The installer's button and LED (gpiozero): a short press toggles on-site mode, a long press sends a report.

LED: steady while on-site; a fast blink while a report is in flight; three slow blinks when it was
delivered; short double flashes for a few seconds when it failed.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from agent.channels import Desk, OnSiteSwitch
from agent.config import ButtonConfig
from agent.request import check_request
from agent.worker import Worker

log = logging.getLogger(__name__)

# The LED's answers, as (on seconds, off seconds, times) steps: what a person at the box tells apart.
DELIVERED = ((0.5, 0.5, 3),)  # three slow blinks
FAILED = ((0.1, 0.1, 2), (0.1, 0.7, 4))  # short double flashes, then short flashes for a few seconds


def gpio_present() -> bool:
    """A GPIO chip (or a pin factory named for gpiozero) is there; without one, gpiozero's 9 MB stay unloaded."""
    return bool(os.environ.get("GPIOZERO_PIN_FACTORY")) or any(Path("/dev").glob("gpiochip*"))


class ButtonPanel:
    def __init__(self, cfg: ButtonConfig, on_short: Callable[[], None], on_long: Callable[[], None], pin_factory=None):
        self.cfg = cfg
        self.on_short = on_short
        self.on_long = on_long
        self.button = self.led = None
        self._held = False
        self._onsite = False
        self._lock = threading.Lock()
        self._reports = Worker("button-report", maxsize=1).start()  # the long presses' reports, one at a time
        if pin_factory is None and not gpio_present():
            log.info("no GPIO chip on this machine: the button is off")
            return
        try:
            from gpiozero import LED, Button
            from gpiozero.exc import BadPinFactory, GPIOZeroError
        except ImportError:
            log.info("gpiozero is not installed: the button is off")
            return
        try:
            with warnings.catch_warnings():  # gpiozero warns once per pin library it does not find
                warnings.simplefilter("ignore")
                self.button = Button(
                    cfg.pin,
                    pull_up=cfg.pull_up,
                    bounce_time=cfg.bounce_s or None,
                    hold_time=cfg.long_press_s,
                    pin_factory=pin_factory,
                )
                if cfg.led_pin is not None:
                    self.led = LED(cfg.led_pin, pin_factory=pin_factory)
        except (BadPinFactory, GPIOZeroError, OSError, RuntimeError) as exc:
            log.info("no GPIO on this machine (%s): the button is off", type(exc).__name__)
            self.close()
            return
        self.button.when_held = self._long
        self.button.when_released = self._released
        log.info("button on GPIO %d%s", cfg.pin, f", LED on GPIO {cfg.led_pin}" if self.led else "")

    @property
    def available(self) -> bool:
        return self.button is not None

    def _long(self) -> None:
        self._held = True
        log.info("button held: sending a report")
        # On the panel's own worker, not gpiozero's event thread: a press while one report is on its way waits.
        self._reports.submit(self.on_long)

    def _released(self) -> None:
        if self._held:  # the end of a long press, not a short one
            self._held = False
            return
        self.on_short()

    # --- the LED ----------------------------------------------------------------------------
    def show_onsite(self, on: bool) -> None:
        self._onsite = on
        self._rest()

    def _rest(self) -> None:
        if self.led is not None:
            (self.led.on if self._onsite else self.led.off)()

    def show_sending(self) -> None:
        if self.led is not None:
            self.led.blink(on_time=0.1, off_time=0.1)

    def show_result(self, delivered: bool) -> None:
        if self.led is None:
            return
        for on_s, off_s, times in DELIVERED if delivered else FAILED:
            self.led.blink(on_time=on_s, off_time=off_s, n=times, background=False)
        self._rest()

    def close(self) -> None:
        self._reports.stop(timeout=2.0)
        for device in (self.button, self.led):
            if device is not None:
                device.close()
        self.button = self.led = None


class ButtonChannel:
    """The panel wired to the agent: a short press toggles on-site mode, a long press sends a report
    and the LED says how it went."""

    SUBJECT = "Report from the button on the box"
    DESCRIPTION = "The installer held the button on the box to send a report."

    def __init__(self, cfg: ButtonConfig, desk: Desk, onsite: OnSiteSwitch, wait_for_case_s: float, pin_factory=None):
        self.desk = desk
        self.onsite = onsite
        self.wait_for_case_s = wait_for_case_s
        self.panel = ButtonPanel(cfg, lambda: onsite.toggle("button"), self.send_report, pin_factory)
        self.panel.show_onsite(onsite.to_dict()["on"])

    def onsite_changed(self, on: bool) -> None:
        self.panel.show_onsite(on)

    def send_report(self) -> None:
        request = check_request({"subject": self.SUBJECT, "description": self.DESCRIPTION}, "button")
        self.panel.show_sending()
        try:
            report_id = self.desk.submit(request)
            state = self.desk.wait(report_id, self.wait_for_case_s)
            delivered = bool(state and state["state"] == "delivered")
        except (ValueError, TimeoutError) as exc:
            log.error("the button's report could not be made: %s", exc)
            delivered = False
        self.panel.show_result(delivered)

    def stop(self) -> None:
        self.panel.close()
