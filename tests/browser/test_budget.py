"""The data budget of a metered link: what is counted, when a day and a month begin, what is thinned and what
waits, and that on-site reports and support's answers always go (agent/transports/budget.py)."""

from __future__ import annotations

import json

from agent.outbox import Outbox
from agent.transports import budget as b
from rigs import peers
from tests.unit.test_budget import BERLIN, Clock  # noqa: F401  (fixtures and helpers shared with that tier)


def test_on_the_box_the_budget_counts_defers_and_says_so_in_the_status_and_on_the_page(
    tmp_path, make_config, cli, agent_process, certs, broker, browser
):
    """The daemon against the real HTTPS intake and Mosquitto: a report's bytes are counted, a low report waits
    once the day's budget is spent, an on-site one goes at once; `status` and the page (in German, headless
    Chromium) say what waits until when."""
    from tests.browser.test_page import no_english

    intake = peers.start_intake(tmp_path / "intake-run", certs["cert"], certs["key"], mqtt_port=broker.info["port"])
    try:
        backend = {"url": intake.info["url"], "ca_file": certs["ca"], "transport": "https"}
        mqtt = {"enabled": True, "port": broker.info["port"]}
        cfg = make_config(backend=dict(backend, data_budget={"day_bytes": 10_000_000}), mqtt=mqtt)
        agent = agent_process(cfg)
        first = cli("report", "--config", cfg, *peers.report_argv("first of the day"))
        assert first.returncode == 0, first.stdout
        used = json.loads(cli("status", "--json", "--config", cfg).stdout)["data_budget"]["day"]["used"]
        [entry] = Outbox(tmp_path / "state" / "outbox").entries()
        assert used >= entry.size + b.EXCHANGE_BYTES  # its body and more: the status topic, the case reads
        agent.stop()

        port = peers.free_port()
        cfg = make_config(
            backend=dict(backend, data_budget={"day_bytes": used + 1000}), mqtt=mqtt, extra={"web": {"port": port}}
        )
        agent_process(cfg)
        low = cli("report", "--config", cfg, *peers.report_argv("a low one that waits"))
        assert low.returncode == 3, low.stdout  # accepted, not delivered: it waits for tomorrow
        on_site = cli("report", "--config", cfg, *peers.report_argv("installer at the box"), "--on-site")
        assert on_site.returncode == 0, on_site.stdout
        state = json.loads(cli("status", "--json", "--config", cfg).stdout)["data_budget"]
        assert len(state["deferred"]) == 1 and state["deferred"][0]["period"] == "day"
        assert state["day"]["used"] > state["day"]["limit"]  # the on-site report went over it: it always goes
        text = cli("status", "--config", cfg).stdout
        assert "data budget: " in text and "1 report(s) wait for the budget until " in text
        log = (tmp_path / "agent-run" / "agent.log").read_text()
        assert "waits for the data budget: this day's is spent" in log
        page = browser.new_page(locale="de-DE")
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#budget:has-text('1 Bericht(e) warten darauf bis')", timeout=20_000)
        assert "MB heute" in page.text_content("#budget") and no_english(page) == []
        waits = page.get_attribute("#reports tr[title*='Datenbudget']", "title")
        assert "das Budget dieses Tages ist aufgebraucht" in waits
    finally:
        intake.stop()
