"""Which MQTT version to speak with a broker, and why a connection failed: the negotiation, apart from paho."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from agent.config import MqttConfig
from agent.storage import StateFile

log = logging.getLogger("agent.transports.mqtt")  # its lines read as the broker link's

# CONNACK reason codes that refuse the box's credentials (MQTT 5: 0x86, 0x87; paho maps 3.1.1's 4 and 5 to them).
NOT_AUTHORIZED = (134, 135)
NOT_AUTHORIZED_TEXT = (
    "not authorized: the broker refused the box's user name, password or certificate "
    "(mqtt.username, mqtt.password, mqtt.client_cert)"
)


class Negotiation:
    """Which MQTT version to speak. With `protocol: auto`, MQTT 5 first; a broker that refuses the version,
    closes the connection without a CONNACK, or says nothing for CONNACK_WAIT_S after the CONNECT gets 3.1.1
    (brokers that speak only 3.1.1 do each of these). A broker that answers with a refusal (credentials) is
    never a reason to change protocol.

    The fallback is a choice about a peer, and peers change (the broker is upgraded): it is re-examined at
    every start (MQTT 5 is tried first again) and once a day (`MqttLink.reprobe`). MEMORY records what was
    learned and when, for the status and the report; it never decides the next start's protocol."""

    CONNACK_WAIT_S = 10.0

    def __init__(self, cfg: MqttConfig, memory: Path | None):
        self.cfg, self.memory = cfg, memory
        self.broker = f"{cfg.host}:{cfg.port}"
        self.v5 = cfg.protocol != "3.1.1"
        self.attempt = 0  # counts CONNECTs sent: a CONNACK timer belongs to one of them
        self.answered = 0  # the attempt a CONNACK (even a refusing one) came for
        self.last_failure: str | None = None
        self.not_authorized = False
        self._timer: threading.Timer | None = None  # the CONNACK wait of the attempt under way

    @property
    def version(self) -> str:
        return "5" if self.v5 else "3.1.1"

    @property
    def fell_back(self) -> bool:
        return self.cfg.protocol == "auto" and not self.v5

    def may_fall_back(self) -> bool:
        return self.v5 and self.cfg.protocol == "auto"

    def opened(self, on_silence: Callable[[int], None]) -> None:
        """A CONNECT goes out now: ON_SILENCE(attempt) runs if no CONNACK came within CONNACK_WAIT_S."""
        self.attempt += 1
        self.cancel()
        self._timer = threading.Timer(self.CONNACK_WAIT_S, on_silence, args=(self.attempt,))
        self._timer.name, self._timer.daemon = "mqtt-connack-wait", True
        self._timer.start()

    def cancel(self) -> None:
        """No CONNACK is waited for any more: it came, or the link stops."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def refused(self, reason) -> bool:
        """A CONNACK that refuses: say why; True when 3.1.1 is worth a try (only a refused protocol version)."""
        self.answered = self.attempt
        self.cancel()
        self.not_authorized = getattr(reason, "value", None) in NOT_AUTHORIZED
        if self.not_authorized:
            return self.failed(NOT_AUTHORIZED_TEXT + f" ({reason})", older_may_help=False)
        return self.failed(f"the connection was refused: {reason}", "protocol version" in str(reason).lower())

    def failed(self, why: str, older_may_help: bool) -> bool:
        """Say why once per reason; True when 3.1.1 is worth a try (and is what is spoken from now on)."""
        if why != self.last_failure:
            log.warning("MQTT broker %s: %s", self.broker, why)
        self.last_failure = why
        if older_may_help and self.may_fall_back():
            log.warning("trying MQTT 3.1.1 with %s", self.broker)
            self.v5 = False
            return True
        return False

    def worked(self, now: float) -> None:
        self.answered = self.attempt
        self.cancel()
        self.last_failure, self.not_authorized = None, False
        if not self.memory or self.cfg.protocol != "auto":
            return
        known = StateFile(self.memory, valid=_valid_memory).load()
        mine = known.get(self.broker)
        if not isinstance(mine, dict) or mine.get("version") != self.version:
            try:
                StateFile(self.memory, valid=_valid_memory).save(
                    dict(known, **{self.broker: {"version": self.version, "since": round(now)}})
                )
            except OSError as exc:
                log.info("the MQTT version that worked is not written down: %s", exc)

    def reprobe(self) -> bool:
        """Once a day: after a fallback, MQTT 5 is worth another try (True: reconnect now)."""
        if not self.fell_back:
            return False
        log.info("MQTT broker %s: trying MQTT 5 again (3.1.1 was fallen back to)", self.broker)
        self.v5 = True
        return True


def _valid_memory(known: dict) -> bool:
    """The MQTT version that last worked, by broker."""
    return all(isinstance(v, dict) and isinstance(v.get("version"), str) for v in known.values())
