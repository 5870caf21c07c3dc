"""A box whose only way to the backend is MQTT (no backend.url) is told the truth: the self-check does not say its
reports cannot be sent, and a report made without the daemon says that MQTT is the daemon's link."""

from __future__ import annotations

from agent import config
from agent.outbox import Entry
from agent.transports.sender import MQTT_IS_THE_DAEMONS, NO_WAY, delivery
from agent.watch.judge import Links, judge_links

HEALTH = {"network": {"broker": {"ok": True}}, "hooks": {}}


def test_the_self_check_judges_delivery_by_the_configured_transport():
    mqtt_only = judge_links(Links(mqtt_enabled=True, mqtt_where="broker:1883", mqtt_connected=True), HEALTH, None)
    assert not [j for j in mqtt_only if j.variant == "unconfigured"]
    nothing = judge_links(Links(), HEALTH, None)
    assert [j.detail for j in nothing if j.variant == "unconfigured"] == ["backend.url is empty"]


def test_without_the_daemon_an_mqtt_only_box_says_its_report_waits_for_the_daemon(make_config):
    cfg = config.load(make_config(mqtt={"enabled": True, "port": 1883}))
    sender = delivery(cfg)
    entry = sender.outbox.spool(Entry("20261206T000000Z-0000aaaa", "low", False, 1.0), lambda f: f.write(b"x"))
    assert sender.attempt(entry).last_error == MQTT_IS_THE_DAEMONS
    off = config.load(make_config(mqtt={"enabled": False}))
    assert delivery(off).none_why == NO_WAY
