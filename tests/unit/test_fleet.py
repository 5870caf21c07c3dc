"""A fleet's share of one backend: urgent reports first after an outage, the rest spread, a Retry-After honoured
per priority. scripts/fleet.py drives the agent's own Outbox and Sender on a virtual clock (here 400 boxes;
the closing note has 10,000), and a Sender meets a backend that sheds low reports with 429."""

from __future__ import annotations

from agent.config.sections import BackendConfig, MqttConfig
from agent.outbox import Entry, Outbox
from agent.report.bundle import write_bundle
from agent.transports.base import DeliveryError, Receipt
from agent.transports.sender import Sender
from rigs import peers
from tools import fleet


def test_after_a_ten_minute_outage_urgent_reports_go_within_a_minute_and_the_rest_spread():
    import logging

    figures = fleet.run_simulated(400, 600.0, fleet.DEFAULT_MIX, seed=7)
    assert logging.root.manager.disable == logging.NOTSET  # the rest of the suite still logs
    assert figures["reports"] == 400 and figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["urgent"]["reports"] >= 20
    assert figures["urgent"]["p90_s"] <= 60, figures["urgent"]  # the old backoff: about 400 s
    for kind in ("urgent", "medium", "low"):
        assert figures[kind]["max_s"] <= 600, (kind, figures[kind])  # backend.retry_max_s
    # The rest spread over minutes, not in the first seconds after the return.
    assert figures["low"]["p50_s"] >= 60, figures["low"]
    assert figures["max_share_delivering_in_1s"] <= 0.05 and figures["max_share_contacting_in_1s"] <= 0.05


class Shedding:
    """A backend shedding load by priority: 429 with a Retry-After per priority for all but high ones until
    UNTIL, then it takes everything."""

    name = "https"

    def __init__(self, clock, retry_after: dict[str, float], until: float):
        self.clock, self.retry_after, self.until = clock, retry_after, until
        self.priorities: dict[str, str] = {}
        self.tries: list[tuple[float, str, bool]] = []

    def ready(self) -> bool:
        return True

    def send(self, report_id: str, bundle) -> Receipt:
        now, priority = self.clock(), self.priorities[report_id]
        shed = now < self.until and priority != "high"
        self.tries.append((now, priority, not shed))
        if shed:
            raise DeliveryError("HTTP 429 Too Many Requests", retry_after=self.retry_after[priority])
        return Receipt(report_id, "CASE-1", priority)


def test_a_retry_after_holds_its_priority_and_the_less_urgent_never_an_on_site_report(tmp_path):
    now = [1.8e9]
    clock = lambda: now[0]
    outbox = Outbox(tmp_path / "outbox", clock=clock)
    wire = Shedding(clock, {"low": 1200, "medium": 600}, until=now[0] + 900)
    sender = Sender(BackendConfig(url="https://x.invalid/"), outbox, [wire], clock=clock, rng=lambda: 0.5)

    def make(n: int, priority: str, on_site: bool) -> None:
        rid = f"20270115T0800{n:02d}Z-0000abc{n}"
        wire.priorities[rid] = priority
        outbox.spool(Entry(rid, priority, on_site, now[0]), lambda f: write_bundle(f, {"report_id": rid}, []))

    start = now[0]
    make(0, "low", False)
    make(1, "medium", False)
    for second in range(3000):  # the send thread's wakes, a second apart
        if second == 300:
            make(2, "high", True)  # an installer on site while the backend sheds the rest
        sender.drain()
        now[0] += 1
    tries = [(round(t - start), p, ok) for t, p, ok in wire.tries]
    assert (300, "high", True) in tries  # at once: a medium's Retry-After never holds an on-site report
    medium = [t for t, p, _ in tries if p == "medium"]
    assert medium[0] == 0 and all(b - a >= 600 for a, b in zip(medium, medium[1:], strict=False)), tries
    low = [t for t, p, _ in tries if p == "low"]
    assert low[0] >= 600 and low[-1] >= 900, tries  # never before the medium ahead of it; its own 429 waited out
    assert [p for _, p, ok in tries if ok] == ["high", "medium", "low"] and not outbox.pending()


def test_an_mqtt_link_reconnects_sooner_while_something_urgent_waits():
    from agent.transports.mqtt import MqttLink

    link = MqttLink(MqttConfig(enabled=True, host="127.0.0.1", port=peers.free_port()), "FLEET-1")
    link.start()  # nobody listens: it keeps reconnecting
    try:
        link.hurry(30.0)
        assert 2 <= link._client._reconnect_max_delay <= 30  # noqa: SLF001 (paho keeps it there)
        link.hurry(None)
        assert link._client._reconnect_max_delay >= 60  # noqa: SLF001
    finally:
        link.stop()
