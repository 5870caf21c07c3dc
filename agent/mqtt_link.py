"""The daemon's MQTT connection: retained status with a last will, reports out, receipts back.

Topics, under <prefix>/<serial>/ (README.md, "The backend contract"):
  status              retained; {"online": false} through the last will
  report/<report_id>  a report bundle, QoS 1; its receipt comes back on receipt/<report_id>
  receipt/<report_id> the backend's {"case", "priority", "report_id"}
  notice              report notices: accepted, delivered (and by which transport)
  command, reply      cloud commands in, their answers out
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from typing import Callable

from agent.config import MqttConfig
from agent.deliver.https import DeliveryError
from agent.receipt import Receipt

log = logging.getLogger(__name__)
DEFAULT_MAX_PACKET = 128 * 1024  # what managed brokers often allow when nobody says otherwise
PACKET_OVERHEAD = 1024  # fixed header, topic and properties, generously


class MqttLink:
    def __init__(self, cfg: MqttConfig, device_id: str, on_command: Callable[[bytes, object], None] | None = None,
                 on_connected: Callable[[], None] | None = None):
        self.cfg = cfg
        self.base = f"{cfg.topic_prefix}/{device_id}"
        self.on_command, self.on_connected = on_command, on_connected
        self._client = None
        self._connected = threading.Event()
        self._stopping = False
        self._status: dict = {}
        self._last_failure: str | None = None
        self._v5 = cfg.protocol != "3.1.1"
        self.broker_max_packet: int | None = None
        self._lock = threading.Lock()
        self._pubacks: dict[int, list] = {}  # mid -> [Event, reason]
        self._early: dict[int, object] = {}  # PUBACKs that arrived before their waiter was registered
        self._receipts: dict[str, list] = {}  # report id -> [Event, payload]

    def topic(self, name: str) -> str:
        return f"{self.base}/{name}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def max_report_bytes(self) -> int:
        limit = self.cfg.max_packet_bytes or self.broker_max_packet or DEFAULT_MAX_PACKET
        return limit - PACKET_OVERHEAD

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.base.replace("/", "-"),
                        protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311)
        if self.cfg.tls:
            c.tls_set(ca_certs=self.cfg.ca_file, certfile=self.cfg.client_cert, keyfile=self.cfg.client_key)
        if self.cfg.username:
            c.username_pw_set(self.cfg.username, self.cfg.password)
        c.will_set(self.topic("status"), json.dumps({"online": False}), qos=1, retain=True)
        self._jitter_reconnect(c)
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.on_publish, c.on_message = self._on_publish, self._on_message
        self._client = c
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()

    @staticmethod
    def _jitter_reconnect(client) -> None:
        # A fleet that lost its broker must not come back in the same second: each box draws its own delays.
        client.reconnect_delay_set(min_delay=random.uniform(1, 10), max_delay=int(random.uniform(60, 180)))

    def _on_connect(self, client, userdata, flags, reason, props) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            if self._v5 and self.cfg.protocol == "auto" and "protocol version" in str(reason).lower():
                log.warning("the broker does not speak MQTT 5; falling back to 3.1.1")
                self._v5 = False
                threading.Thread(target=self._restart, daemon=True).start()
            return
        self.broker_max_packet = getattr(props, "MaximumPacketSize", None) if props else None
        log.info("MQTT connected to %s:%d (MQTT %s)", self.cfg.host, self.cfg.port, "5" if self._v5 else "3.1.1")
        self._last_failure = None
        client.subscribe([(self.topic("receipt/+"), 1), (self.topic("command"), 1)])
        self._connected.set()
        self._publish_status()
        if self.on_connected:
            self.on_connected()

    def _on_connect_fail(self, client, userdata) -> None:
        # paho does not say why; ask the network collector's checks, and say it once per reason.
        from agent.collect.network import tcp_check, tls_check

        c = self.cfg
        why = tcp_check(c.host, c.port, 5.0)
        if why is None and c.tls:
            why = tls_check(c.host, c.port, c.ca_file, 5.0)
        why = why or "the connection failed"
        if why != self._last_failure:
            log.warning("cannot connect to the MQTT broker %s:%d: %s", c.host, c.port, why)
            self._last_failure = why

    def _restart(self) -> None:
        old, self._client = self._client, None
        old.loop_stop()
        old.disconnect()
        self.start()

    def _on_disconnect(self, client, userdata, flags, reason, props) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("MQTT connection lost: %s", reason)
            self._jitter_reconnect(client)
        self._connected.clear()
        with self._lock:  # a publish in flight will not be acknowledged on this connection
            for waiter in self._pubacks.values():
                waiter[1] = "connection lost"
                waiter[0].set()

    def _on_publish(self, client, userdata, mid, reason, props) -> None:
        with self._lock:
            waiter = self._pubacks.get(mid)
            if waiter is None:
                self._early[mid] = reason
                while len(self._early) > 1000:  # status publishes nobody waits for
                    self._early.pop(next(iter(self._early)))
        if waiter:
            waiter[1] = reason
            waiter[0].set()

    def _on_message(self, client, userdata, msg) -> None:
        if msg.topic.startswith(self.topic("receipt/")):
            report_id = msg.topic.rsplit("/", 1)[1]
            with self._lock:
                waiter = self._receipts.get(report_id)
            if waiter:
                waiter[1] = msg.payload
                waiter[0].set()
        elif msg.topic == self.topic("command") and self.on_command:
            self.on_command(msg.payload, getattr(msg, "properties", None))

    # --- publishing -------------------------------------------------------------------------
    def publish(self, name: str, payload: bytes | str, retain: bool = False, properties=None,
                timeout: float | None = None) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK; a failure reason code raises DeliveryError."""
        if not self.connected:
            raise DeliveryError("not connected to the MQTT broker")
        waiter = [threading.Event(), None]
        # Not under our lock: paho may call back (on_publish, on_disconnect) from inside publish().
        info = self._client.publish(self.topic(name), payload, qos=1, retain=retain, properties=properties)
        with self._lock:
            if info.mid in self._early:
                waiter[1] = self._early.pop(info.mid)
                waiter[0].set()
            else:
                self._pubacks[info.mid] = waiter
        try:
            if info.rc != 0:
                raise DeliveryError(f"MQTT publish failed: {info.rc}")
            if not waiter[0].wait(timeout or self.cfg.publish_timeout_s):
                raise DeliveryError("the broker did not acknowledge the publish in time")
            reason = waiter[1]
            # paho completes the publish even for a PUBACK with a failure reason code: check it.
            if reason == "connection lost" or getattr(reason, "is_failure", False):
                raise DeliveryError(f"the broker refused the publish: {reason}")
        finally:
            with self._lock:
                self._pubacks.pop(info.mid, None)

    def send_report(self, report_id: str, bundle: bytes, timeout: float) -> Receipt:
        """Send a bundle that fits one packet; return the receipt that comes back on receipt/<report_id>."""
        if len(bundle) > self.max_report_bytes:
            raise DeliveryError(f"{len(bundle)} bytes do not fit the broker's packet limit", final=False)
        props = None
        if self._v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = self.topic(f"receipt/{report_id}")
            props.CorrelationData = report_id.encode()
            props.UserProperty = [("report-id", report_id), ("sha256", hashlib.sha256(bundle).hexdigest())]
        waiter = [threading.Event(), None]
        with self._lock:
            self._receipts[report_id] = waiter
        try:
            self.publish(f"report/{report_id}", bundle, properties=props, timeout=timeout)
            if not waiter[0].wait(timeout):
                raise DeliveryError(f"no receipt on MQTT within {timeout:g} s")
            try:
                data = json.loads(waiter[1])
                return Receipt(report_id=report_id, case=str(data["case"]), priority=str(data["priority"]))
            except (ValueError, KeyError, TypeError):
                raise DeliveryError(f"the backend's MQTT answer has no case number: {waiter[1][:200]!r}",
                                    final=True) from None
        finally:
            with self._lock:
                self._receipts.pop(report_id, None)

    def notice(self, event: str, **fields) -> None:
        """Best effort: a notice that cannot go out now is not worth a retry (the status topic catches up)."""
        if self.connected:
            try:
                self.publish("notice", json.dumps({"event": event, **fields}), timeout=5)
            except DeliveryError as exc:
                log.info("report notice not published: %s", exc)

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
