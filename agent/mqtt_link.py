"""The daemon's MQTT connection: a retained status topic with online/offline through the last will."""

from __future__ import annotations

import json
import logging
import threading

from agent.config import MqttConfig

log = logging.getLogger(__name__)


class MqttLink:
    def __init__(self, cfg: MqttConfig, device_id: str):
        self.cfg = cfg
        self.base = f"{cfg.topic_prefix}/{device_id}"
        self._client = None
        self._connected = threading.Event()
        self._stopping = False
        self._status: dict = {}

    def topic(self, name: str) -> str:
        return f"{self.base}/{name}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.base.replace("/", "-"),
                        protocol=mqtt.MQTTv5)
        if self.cfg.tls:
            c.tls_set(ca_certs=self.cfg.ca_file)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self.cfg.password)
        c.will_set(self.topic("status"), json.dumps({"online": False}), qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=120)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self._client = c
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()

    def _on_connect(self, client, userdata, flags, reason, props) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            return
        log.info("MQTT connected to %s:%d", self.cfg.host, self.cfg.port)
        self._connected.set()
        self._publish_status()

    def _on_disconnect(self, client, userdata, flags, reason, props) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("MQTT connection lost: %s", reason)
        self._connected.clear()

    def publish_status(self, status: dict) -> None:
        self._status = dict(status, online=True)
        if self.connected:
            self._publish_status()

    def _publish_status(self) -> None:
        self._client.publish(self.topic("status"), json.dumps(self._status or {"online": True}), qos=1, retain=True)

    def stop(self) -> None:
        if self._client is None:
            return
        self._stopping = True
        if self.connected:
            info = self._client.publish(self.topic("status"), json.dumps({"online": False}), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
