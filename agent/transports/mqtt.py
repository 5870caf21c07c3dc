"""The MQTT transport and the daemon's one broker connection (the only module that imports paho):
reports out and receipts back, the retained status with a last will, cloud commands in and replies out.

Topics, under <prefix>/<serial>/ (README.md, "The backend contract"):
  status              retained; {"online": false} through the last will
  report/<report_id>  a report bundle, QoS 1; its receipt comes back on receipt/<report_id>
  receipt/<report_id> the backend's {"case", "priority", "report_id"}
  notice              report notices: accepted, delivered (and by which transport)
  command, reply      cloud commands in, their answers out
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import MqttConfig
from agent.storage import read_bytes
from agent.transports.base import DeliveryError, Receipt, parse_receipt
from agent.transports.budget import NO_METER, counted, publish_counted
from agent.transports.mqtt_version import Negotiation
from agent.worker import Worker

log = logging.getLogger(__name__)
DEFAULT_MAX_PACKET = 128 * 1024  # what managed brokers often allow when nobody says otherwise
PACKET_OVERHEAD = 1024  # fixed header, topic and properties, generously
RECEIPT_BYTES = 4096  # a receipt is a case number, a priority and a report id


def make_client(cfg: MqttConfig, client_id: str, v5: bool, will_topic: str, hurry: float | None = None):
    """A paho client with the box's TLS, credentials and last will ({"online": false} on its status)."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    )
    if cfg.tls:
        from agent.tls import client_context

        c.tls_set_context(client_context(cfg.ca_file, cfg.client_cert, cfg.client_key))
    if cfg.username:
        c.username_pw_set(cfg.username, cfg.password)
    c.will_set(will_topic, json.dumps({"online": False}), qos=1, retain=True)
    jitter_reconnect(c, hurry)
    return c


def jitter_reconnect(client, within_s: float | None = None) -> None:
    # A fleet that lost its broker must not come back in the same second: each box draws its own delays; a box
    # with an urgent report waiting tries again within WITHIN_S (70-100 % of it), before the rest.
    lo, hi = ((1, 5), (0.7 * within_s, within_s)) if within_s else ((1, 10), (60, 180))
    client.reconnect_delay_set(min_delay=random.uniform(*lo), max_delay=max(2, int(random.uniform(*hi))))


def why_no_connection(cfg: MqttConfig) -> str:
    """paho does not say why a connection failed: ask the network collector's checks."""
    from agent.health.network import tcp_check, tls_check

    why = tcp_check(cfg.host, cfg.port, 5.0)
    if why is None and cfg.tls:
        why = tls_check(cfg.host, cfg.port, 5.0, (cfg.ca_file, cfg.client_cert, cfg.client_key))
    return why or "the connection failed"


def settle(waiter: Future, value) -> None:
    """VALUE is WAITER's answer, unless it has one already (a lost connection failed it first)."""
    try:
        waiter.set_result(value)
    except InvalidStateError:
        pass


class PubAcks:
    """PUBACKs matched to the publishes waiting for them, whichever comes first; each waiter a Future."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: dict[int, Future] = {}  # mid -> its PUBACK's reason: None (accepted) or why not
        self._early: dict[int, Any] = {}  # PUBACKs that arrived before their waiter

    def resolve(self, mid: int, reason) -> None:
        # Only the words of a failure are kept: a paho ReasonCode carries a 4 KB dict of names, and every
        # status publish (which nobody waits for) left one here; that was the daemon's growth per report.
        reason = str(reason) if getattr(reason, "is_failure", False) else None
        with self._lock:
            waiter = self._waiting.get(mid)
            if waiter is None:
                self._early[mid] = reason
                while len(self._early) > 64:  # status publishes nobody waits for
                    self._early.pop(next(iter(self._early)))
                return
        settle(waiter, reason)

    def fail_all(self, reason: str) -> None:
        with self._lock:
            waiters = list(self._waiting.values())
        for waiter in waiters:
            settle(waiter, reason)

    def wait(self, mid: int, timeout: float) -> str | None:
        """None for a PUBACK that accepts, else why not; DeliveryError when none comes within TIMEOUT."""
        waiter: Future = Future()
        with self._lock:
            if mid in self._early:
                return self._early.pop(mid)
            self._waiting[mid] = waiter
        try:
            return waiter.result(timeout)
        except FutureTimeout:
            raise DeliveryError("the broker did not acknowledge the publish in time") from None
        finally:
            with self._lock:
                self._waiting.pop(mid, None)


def correlation_properties(correlation: bytes):
    """MQTT 5 PUBLISH properties that tie an answer to the message it answers."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.PUBLISH)
    properties.CorrelationData = correlation[:64]
    return properties


@dataclass
class Takers:
    """Who takes what comes in on the box's topics: support's commands (the cloud channel), receipts
    (MqttTransport) and case states (the case conversation). Each is called on paho's thread."""

    command: Callable[[bytes, bytes | None], None] | None = None
    receipt: Callable[[str, bytes], None] | None = None
    case: Callable[[bytes], None] | None = None

    def route(self, base: str, msg) -> None:
        if msg.topic.startswith(f"{base}/receipt/"):
            if self.receipt:
                self.receipt(msg.topic.rsplit("/", 1)[1], msg.payload)
        elif msg.topic.startswith(f"{base}/case/"):
            if self.case:
                self.case(msg.payload)
        elif msg.topic == f"{base}/command" and self.command:
            self.command(msg.payload, getattr(getattr(msg, "properties", None), "CorrelationData", None))


class Connection:
    """The broker connection: paho's client made and connected (the protocol negotiated, talk), subscribed to the
    box's topics, restarted on a fallback or a re-probe, hurried while something urgent waits, stopped. CONNACK
    and SUBACK together make it up (_up); a loss is _down; what comes in goes to its taker. MqttLink publishes
    over it."""

    def __init__(self, cfg: MqttConfig, device_id: str, memory: Path | None = None):
        self.cfg = cfg
        self.base = f"{cfg.topic_prefix}/{device_id}"
        self.device_id = device_id
        self.takers = Takers()
        self._client: Any = None  # paho's client, made by start()
        self._stopping = False
        # Restarts leave paho's thread (which cannot stop itself); one runs, one more may wait, the rest merge.
        self._restarts = Worker("mqtt-restart", maxsize=1, say_full=False)
        # CONNACK and SUBACK: only both let commands, receipts and case states in; only both are "connected".
        self._connected, self._subscribed = threading.Event(), threading.Event()
        self.talk = Negotiation(cfg, memory)
        self.broker_max_packet: int | None = None
        self.meter = NO_METER  # the data budget's (transports/budget.py), if any
        self._hurry: float | None = None  # reconnect within this while an urgent report waits (the sender says)

    def topic(self, name: str) -> str:
        return f"{self.base}/{name}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self._subscribed.is_set()

    def state(self) -> dict:
        t, up = self.talk, self.connected
        return dict(connected=up, protocol=t.version, last_failure=t.last_failure, not_authorized=t.not_authorized)

    def start(self) -> None:
        c = make_client(self.cfg, self.base.replace("/", "-"), self.talk.v5, self.topic("status"), self._hurry)
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_connect_fail = lambda client, userdata: self._failed(f"cannot connect: {why_no_connection(self.cfg)}")
        c.on_socket_open = lambda client, userdata, sock: self.talk.opened(self._no_connack)
        c.on_publish = lambda client, userdata, mid, reason, props: self._acked(mid, reason)
        c.on_message = lambda client, userdata, msg: self.takers.route(self.base, counted(self.meter, msg.topic, msg))
        c.on_subscribe = self._on_subscribe
        self._client = c
        c.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        c.loop_start()

    # What the publishing side hears of the connection (MqttLink).
    def _up(self) -> None:
        """Connected and subscribed."""

    def _down(self) -> None:
        """The connection is gone (lost, refused, stopped)."""

    def _acked(self, mid: int, reason) -> None:
        """The broker's PUBACK for message MID."""

    def _no_connack(self, attempt: int) -> None:
        if attempt == self.talk.attempt and not self._connected.is_set() and not self._stopping:
            self._failed(
                f"no answer to the MQTT {self.talk.version} CONNECT within {Negotiation.CONNACK_WAIT_S:g} s",
                older_may_help=True,
            )

    def _failed(self, why: str, older_may_help: bool = False) -> None:
        if self.talk.failed(why, older_may_help):
            self.restart_soon()

    def _on_connect(self, client, userdata, flags, reason, props) -> None:
        if reason.is_failure:
            if self.talk.refused(reason):
                self.restart_soon()
            return
        self.talk.worked(time.time())
        self.broker_max_packet = getattr(props, "MaximumPacketSize", None) if props else None
        log.info("MQTT connected to %s:%d (MQTT %s)", self.cfg.host, self.cfg.port, self.talk.version)
        self._connected.set()
        self.meter.link(True, self.cfg.keepalive_s)
        client.subscribe([(self.topic("receipt/+"), 1), (self.topic("command"), 1), (self.topic("case/+"), 1)])

    def _on_subscribe(self, client, userdata, mid, reasons, props) -> None:
        self._subscribed.set()
        self._up()

    def hurry(self, within_s: float | None) -> None:
        if within_s != self._hurry and self._client is not None:
            jitter_reconnect(self._client, within_s)
        self._hurry = within_s

    @property
    def running(self) -> bool:
        return self._client is not None and not self._stopping

    def restart_soon(self) -> None:  # connect anew (a fallback, a re-probe), on the link's own thread
        if not self._stopping:
            self._restarts.start().submit(self._restart)

    def _restart(self) -> None:
        """The old client stopped, a new one in its place: self._client is never None meanwhile (a publish on the
        stopped one fails as "not connected", as any publish while the link is down)."""
        if not self.running:
            return
        old = self._client
        old.loop_stop()
        old.disconnect()
        self.start()

    def _on_disconnect(self, client, userdata, flags, reason, props) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("MQTT connection lost: %s", reason)
            jitter_reconnect(client, self._hurry)
        elif not self._stopping and self.talk.attempt and self.talk.answered != self.talk.attempt:  # no CONNACK:
            self.talk.attempt += 1  # what 3.1.1-only brokers do; this attempt is over, its CONNACK timer must not act
            self._failed(
                f"the broker closed the connection without answering the MQTT {self.talk.version} CONNECT ({reason})",
                older_may_help=True,
            )
        self._connected.clear()
        self._subscribed.clear()
        self.meter.link(False)
        self._down()

    def stop(self) -> None:
        self._stopping = True
        if self._client is not None:
            if self.connected:
                say_offline(self._client, self.topic("status"))
            self._client.disconnect()
            self._client.loop_stop()
        self._restarts.stop(2.0)
        self.talk.cancel()


class MqttLink(Connection):
    """Publishing over the broker connection: QoS 1 with the broker's PUBACK awaited, the retained status (sent
    again on every connect), notices; on_connected tells the sender that what waits may go."""

    def __init__(self, cfg: MqttConfig, device_id: str, memory: Path | None = None):
        super().__init__(cfg, device_id, memory)
        self.on_connected: Callable[[], None] | None = None  # connected and subscribed: send what waits
        self._status: dict[str, Any] = {}
        self._acks = PubAcks()

    def _up(self) -> None:
        self._publish_status()
        if self.on_connected:
            self.on_connected()

    def _down(self) -> None:
        self._acks.fail_all("connection lost")  # a publish in flight is not acknowledged on this connection

    def _acked(self, mid: int, reason) -> None:
        self._acks.resolve(mid, reason)

    def publish(
        self,
        name: str,
        payload: bytes | str,
        retain: bool = False,
        properties=None,
        timeout: float | None = None,
        correlation: bytes | None = None,
    ) -> None:
        """QoS 1, the broker's PUBACK awaited (a failure code: DeliveryError); CORRELATION (MQTT 5): an answer's."""
        if not self.connected:
            raise DeliveryError("not connected to the MQTT broker")
        if correlation and self.talk.v5 and properties is None:
            properties = correlation_properties(correlation)
        # paho may call back (on_publish, on_disconnect) from inside publish(): no lock of ours held here.
        info = publish_counted(
            self._client, self.meter, self.topic(name), payload, retain=retain, properties=properties
        )
        if info.rc != 0:
            raise DeliveryError(f"MQTT publish failed: {info.rc}")
        refused = self._acks.wait(info.mid, timeout or self.cfg.publish_timeout_s)
        # paho completes the publish even for a PUBACK with a failure reason code: check it.
        if refused:
            raise DeliveryError(f"the broker refused the publish: {refused}")

    def publish_status(self, status: dict) -> None:
        self._status = dict(status, online=True)
        if self.connected:
            self._publish_status()

    def _publish_status(self) -> None:
        status = json.dumps(self._status or {"online": True})
        publish_counted(self._client, self.meter, self.topic("status"), status, retain=True)


def say_offline(client, topic: str) -> None:
    """The retained status says offline before an orderly disconnect (the last will says it otherwise)."""
    info = client.publish(topic, json.dumps({"online": False}), qos=1, retain=True)
    with contextlib.suppress(RuntimeError, ValueError):
        info.wait_for_publish(timeout=2)


def notice(link: MqttLink | None, event: str, **fields) -> None:
    """Best effort: a notice that cannot go out now is not worth a retry (the status topic catches up)."""
    if link is not None and link.connected:
        try:
            link.publish("notice", json.dumps({"event": event, **fields}), timeout=5)
        except DeliveryError as exc:
            log.info("report notice not published: %s", exc)


def reprobe(link: MqttLink) -> None:
    """The daily calendar job: after a fallback to 3.1.1, reconnect with MQTT 5 once (it falls back again within
    seconds if the broker still cannot). The main loop does not wait on paho: the restart has its own thread."""
    if link.running and link.talk.reprobe():
        link.restart_soon()


class MqttTransport:
    """A Transport over the link: the bundle on report/<id>, the receipt back on receipt/<id>."""

    name = "mqtt"

    def __init__(self, link: MqttLink, receipt_timeout_s: float, key: str | None):
        self.link = link
        self.receipt_timeout_s = receipt_timeout_s
        self.key = key
        self._lock = threading.Lock()
        self._receipts: dict[str, Future] = {}  # report id -> the sealed receipt's JSON
        self.refused_receipts = 0  # unsigned, forged, oversized: never taken for the backend's word
        link.takers.receipt = self._on_receipt
        self.hurry = link.hurry  # the sender's optional capability: reconnect sooner while something urgent waits

    def ready(self) -> bool:
        return self.link.connected

    def send(self, report_id: str, bundle: Path) -> Receipt:
        if not self.key:  # a receipt nobody can check could say a report arrived that never did
            raise DeliveryError("MQTT receipts cannot be checked: set support.case_key (the key support signs with)")
        return self.send_report(report_id, read_bytes(bundle), self.receipt_timeout_s)

    def _on_receipt(self, report_id: str, payload: bytes) -> None:
        """From paho's thread: only a receipt sealed by the backend for this report reaches its waiter."""
        from agent import wire

        with self._lock:
            waiter = self._receipts.get(report_id)
        if not waiter:
            return
        try:
            data = wire.unseal(self.key, "receipt", self.link.device_id, wire.parse(payload, RECEIPT_BYTES, 4))
            if data.get("report_id") != report_id:
                raise wire.WireError(f"it names another report ({str(data.get('report_id'))[:70]!r})")
        except wire.WireError as exc:
            self.refused_receipts += 1
            log.warning("a receipt for %s on MQTT is not used: %s", report_id, exc)
            return
        settle(waiter, json.dumps(data))

    def send_report(self, report_id: str, bundle: bytes, timeout: float) -> Receipt:
        """Send a bundle that fits one packet; return the receipt that comes back on receipt/<report_id>."""
        link = self.link
        limit = link.cfg.max_packet_bytes or link.broker_max_packet or DEFAULT_MAX_PACKET
        if len(bundle) > limit - PACKET_OVERHEAD:
            raise DeliveryError(
                f"the report ({len(bundle)} bytes) does not fit the broker's packet limit "
                f"({limit} bytes; mqtt.max_packet_bytes sets it when the broker does not say)",
                cannot_carry=True,
            )
        props = None
        if self.link.talk.v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = self.link.topic(f"receipt/{report_id}")
            props.CorrelationData = report_id.encode()
            props.UserProperty = [("report-id", report_id), ("sha256", hashlib.sha256(bundle).hexdigest())]
        waiter: Future = Future()
        with self._lock:
            self._receipts[report_id] = waiter
        try:
            self.link.publish(f"report/{report_id}", bundle, properties=props, timeout=timeout)
            try:
                answer = waiter.result(timeout)
            except FutureTimeout:
                raise DeliveryError(f"no receipt on MQTT within {timeout:g} s") from None
            return parse_receipt(report_id, answer, "MQTT")
        finally:
            with self._lock:
                self._receipts.pop(report_id, None)
