"""The installer's language and clock: English and German as data files (agent/lang/), times shown in the box's
time zone with the offset, the page at a 360 px phone in German, report.html in German."""

from __future__ import annotations

import json
import re

from rigs import peers
from tests.unit.test_lang import VOCABULARIES  # noqa: F401  (fixtures and helpers shared with that tier)


def test_a_german_box_at_360_px_and_its_german_report(
    tmp_path, make_config, agent_process, intake, certs, sim_bus, browser, cli
):
    port = peers.free_port()
    path = make_config(
        buses=[sim_bus],
        devices=peers.sim_devices(),
        backend={"url": intake.info["url"], "ca_file": certs["ca"]},
        extra={
            "language": "de",
            "timezone": "Europe/Berlin",
            "web": {"port": port},
            "support": {"email": "support@example.com"},
        },
    )
    agent_process(path)
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    sent = cli(
        "report",
        "--subject",
        "Laden bricht nach einer Minute ab",
        "--description",
        "Das Auto lädt eine Minute lang und hört dann auf, jedes Mal.",
        "--email",
        "besitzer@example.com",
        "--config",
        path,
    )
    assert "CASE-000001" in sent.stdout, sent.stdout + sent.stderr

    page = browser.new_page(viewport={"width": 360, "height": 740}, locale="de-DE")
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector("h1:has-text('Wallbox-Diagnose')")
    page.wait_for_selector("#reports td:has-text('Fall CASE-000001')")
    assert page.text_content("#onsite-toggle") == "Vor-Ort-Modus starten"
    created = page.text_content("#reports td")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d GMT\+1", created), created  # Berlin in November
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 360)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert wide == [], "wider than a 360 px phone"
    page.screenshot(path=str(tmp_path / "page-de-360.png"), full_page=True)
    english = browser.new_page(viewport={"width": 360, "height": 740}, locale="en-GB")
    english.goto(f"http://127.0.0.1:{port}/")
    english.wait_for_selector("h1:has-text('Wallbox diagnostics')")  # the browser's choice wins where we have it

    bundle = tmp_path / "bericht.tar.gz"
    assert (
        cli(
            "report",
            "--subject",
            "Laden bricht nach einer Minute ab",
            "--description",
            "Das Auto lädt eine Minute lang und hört dann auf, jedes Mal.",
            "--email",
            "besitzer@example.com",
            "--out",
            bundle,
            "--config",
            path,
        ).returncode
        == 0
    )
    assert cli("inspect", bundle, "--html", tmp_path / "bericht.html").returncode == 0
    html = (tmp_path / "bericht.html").read_text()
    assert "<html lang='de'>" in html and "Support-Checkliste" in html and "Zeiten in Europe/Berlin (+01:00)" in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+01:00", html)
    report = browser.new_page(viewport={"width": 1000, "height": 1400})
    report.goto((tmp_path / "bericht.html").as_uri())
    report.screenshot(path=str(tmp_path / "report-de.png"), full_page=True)
    status = cli("status", "--config", path).stdout
    assert "Vor-Ort-Modus: aus" in status and "Letzte Quittung: Fall CASE-000001" in status
    assert json.loads(cli("status", "--json", "--config", path).stdout)["outbox"]["delivered"] >= 1
