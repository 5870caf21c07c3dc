"""MQTT input: reports on <prefix>/<box>/report/<id>, receipts back, case states out (retained)."""

from __future__ import annotations

import json
import logging
import os

from backend.rules import Rejected
from backend.rules.cases import CaseStore
from backend.seal import Sealer

log = logging.getLogger("intake")


class MqttSide:
    """Reports in on <prefix>/<box>/report/<id>, receipts back; each case's state out, retained, on
    <prefix>/<box>/case/<CASE>, so a box that was off reads it when it connects. With SHARE, workers take
    reports from one shared subscription ($share/SHARE/...): each report reaches one of them. With MQTT
    3.1.1 the receipt goes to <prefix>/<box>/receipt/<id> (3.1.1 has no response topic)."""

    def __init__(self, store: CaseStore, host: str, port: int, prefix: str, seal: Sealer, protocol: str, share: str):
        import paho.mqtt.client as mqtt

        self.store = store
        self.prefix = prefix
        self.seal = seal
        self.share = share
        self.v5 = protocol == "5"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"intake-{os.getpid()}",
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
        )
        self.client.on_connect, self.client.on_message = self._on_connect, self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, c, userdata, flags, reason, props):
        topic = f"{self.prefix}/+/report/+"
        c.subscribe(f"$share/{self.share}/{topic}" if self.share else topic, qos=1)
        for case in self.store.cases:  # a broker without persistence forgot them
            self.publish_case(case)
        log.info("MQTT: subscribed to %s%s", topic, f" (shared as {self.share})" if self.share else "")

    def publish_case(self, case: dict) -> None:
        if case["box"]:
            self.client.publish(
                f"{self.prefix}/{case['box']}/case/{case['case']}",
                json.dumps(self.seal("case", case["box"], self.store.state_for_box(case))),
                qos=1,
                retain=True,
            )

    def _on_message(self, c, userdata, msg):
        props = getattr(msg, "properties", None) if self.v5 else None
        report_id = msg.topic.rsplit("/", 1)[1]  # <prefix>/<serial>/report/<report id>
        try:
            reply, _ = self.store.accept(msg.payload, report_id, "mqtt")
        except Rejected as exc:
            reply = {"error": str(exc), "report_id": report_id}
        serial_base = msg.topic.rsplit("/", 2)[0]
        reply = self.seal("receipt", serial_base.rsplit("/", 1)[1], dict(reply, report_id=report_id))
        response_topic = getattr(props, "ResponseTopic", None) or f"{serial_base}/receipt/{report_id}"
        if not self.v5:
            c.publish(response_topic, json.dumps(reply), qos=1)
            return
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        out = Properties(PacketTypes.PUBLISH)
        if props is not None and getattr(props, "CorrelationData", None):
            out.CorrelationData = props.CorrelationData
        c.publish(response_topic, json.dumps(reply), qos=1, properties=out)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
