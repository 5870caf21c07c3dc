"""The installer's page as people use it, in headless Chromium at 360 px and 1280 px, in English and German,
against the simulator's faults: the box explains itself, says where the fault is, walks through support's
checklist, sends one report per tap, and one visit makes one case. Screenshots go to test-artifacts/<test>/."""

from __future__ import annotations

import json
import re
import tarfile

import pytest
import requests
import yaml

from rigs import peers
from tests.integration.test_page import PLACES, WIDTHS, box, fault  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.fixture
def shots(request):
    """The folder this test's screenshots are kept in, for the next person to look at."""
    folder = peers.ROOT / "test-artifacts" / re.sub(r"[^\w.-]", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cases_at_intake(tmp_path) -> list[dict]:
    return peers.intake_cases(tmp_path / "intake-run" / "intake")


def english_sentences() -> set[str]:
    """Every piece of a sentence in en.yaml (three words or more between placeholders) that German never uses."""
    from agent.lang import FOLDER

    def leaves(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from leaves(v)
        elif isinstance(node, str):
            yield node

    german = " ".join(leaves(yaml.safe_load((FOLDER / "de.yaml").read_text())))
    pieces = set()
    for text in leaves(yaml.safe_load((FOLDER / "en.yaml").read_text())):
        for piece in re.split(r"\{[^}]*\}", text):
            piece = piece.strip(" .,:;()\"'")
            if len(piece.split()) >= 3 and piece not in german:
                pieces.add(piece)
    return pieces


def no_english(page) -> list[str]:
    shown = page.evaluate("document.body.innerText")
    return sorted(p for p in english_sentences() if p in shown)


def not_wider_than(page, width: int) -> list[str]:
    return page.evaluate(
        f"[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > {width} + 0.5)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )


def test_a_lost_phase_is_explained_and_placed_in_the_supply_in_both_languages(box, simulator, browser, shots):
    rig = box()
    fault(simulator, "lost_phase")
    expected = {
        "en": (
            "The fault is in the supply (grid or installation).",
            "No voltage on L3 at meter: the supply to the box",
        ),
        "de": ("Der Fehler liegt in der Versorgung (Netz oder Installation).", "Keine Spannung auf L3 am meter"),
    }
    for language, (sentence, evidence) in expected.items():
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{rig['url']}/?lang={language}")
            page.wait_for_selector("#where:visible", timeout=20_000)
            assert page.text_content("#where-sentence") == sentence
            assert evidence in page.text_content("#where-evidence")
            assert page.text_content("#state").startswith(sentence)  # the box's state in one sentence, next step after
            assert page.text_content("#phases tbody tr:nth-child(3) td:nth-child(1)") == "L3"
            l3 = page.text_content("#phases tbody tr:nth-child(3) td:nth-child(2)")
            assert float(l3.split()[0]) < 5, l3  # the installer sees L3 = 0 V
            problems = page.text_content("#problems")
            title = "A phase has no voltage" if language == "en" else "Eine Phase hat keine Spannung"
            advice = "Have an electrician check" if language == "en" else "Eine Elektrofachkraft soll"
            assert title in problems and advice in problems, problems
            assert page.text_content("#box-name") == (
                "WB-22, serial TEST-0001" if language == "en" else "WB-22, Seriennummer TEST-0001"
            )
            if language == "de":
                assert no_english(page) == []
            assert not_wider_than(page, width) == []
            page.screenshot(path=str(shots / f"page-{language}-{width}.png"), full_page=True)
            page.close()


def test_readings_move_on_the_page_without_a_reload(box, browser):
    rig = box()
    page = browser.new_page()
    page.goto(rig["url"])
    page.wait_for_selector("#phases tbody tr:has-text('L1')", timeout=20_000)
    first = page.text_content("#phases tbody")
    # The simulator's voltages drift and carry noise: a fresh poll shows other figures.
    peers.wait_for(lambda: page.text_content("#phases tbody") != first, 20, "the readings to change")
    assert re.search(r"[ABCD]: ", page.text_content("#vehicle")), page.text_content("#vehicle")


def test_normal_life_has_no_verdict_against_anything(box, browser, cli):
    rig = box()
    page = browser.new_page()
    page.goto(rig["url"])
    page.wait_for_selector("#box-name:has-text('WB-22')", timeout=20_000)
    page.wait_for_selector("#phases tbody tr:has-text('L3')")
    assert page.is_hidden("#where")
    assert "fault" not in (page.get_attribute("#state", "class") or "")
    answer = json.loads(cli("check", "--json", "--config", rig["config"]).stdout)
    assert answer["where"] == []
    assert "Where the fault is: No fault found" in cli("check", "--config", rig["config"]).stdout


def test_one_visit_one_case_the_checklist_and_one_report_per_tap(box, simulator, browser, tmp_path, shots, cli):
    rig = box(auto_report={"debounce_s": 15, "per_code_interval_s": 3600, "daily_cap": 5})
    page = browser.new_page(viewport={"width": 360, "height": 800})
    page.goto(rig["url"])
    page.click("#onsite-toggle")
    page.wait_for_selector("#onsite-state:has-text('ON')")
    fault(simulator, "lost_phase")
    page.wait_for_selector("#where:visible", timeout=20_000)
    # On-site mode ticks the box; the checklist says what support will ask.
    assert page.is_checked("#on_site") and "high priority" in page.text_content("#onsite-note")
    checklist = page.text_content("#checklist")
    assert "The software is the current release." in checklist and "WB-22, serial TEST-0001" in checklist
    assert "Have photos ready" in checklist
    page.fill("#subject", "Charging stops")  # short is fine: it says what happens
    page.fill("#description", "No charging since this morning; the installer measured the phases.")
    page.fill("#email", "installer@example.com")
    page.dblclick("#send")  # a second tap while it sends does nothing
    case = peers.wait_for(
        lambda: re.fullmatch(r"CASE-\d{6}", page.text_content("#case") or "") and page.text_content("#case"),
        30,
        "the case",
    )
    assert page.text_content("#my-case-number") == case and page.is_visible("#my-case")
    assert page.is_hidden("#report-form") and page.is_visible("#another")
    page.screenshot(path=str(shots / "sent-360.png"), full_page=True)
    # The box's own fault report, due 15 s after the fault, joins the installer's case as a follow-up.
    joined = peers.wait_for(
        lambda: [a for c in cases_at_intake(tmp_path) for a in c["articles"] if a["kind"] == "follow_up"],
        60,
        "the follow-up",
    )
    cases = cases_at_intake(tmp_path)
    assert [c["case"] for c in cases] == [case], cases  # one visit, one case
    assert [a["kind"] for a in cases[0]["articles"]] == ["report", "follow_up"] and len(joined) == 1
    assert cases[0]["priority"] == "high" and cases[0]["subject"] == "Charging stops"
    assert page.text_content("#my-case-number") == case  # the installer's number stays in view
    # A new report while the case is open for this fault offers that case.
    page.click("#another")
    page.wait_for_selector(f"#case-hint:has-text('{case}')")
    assert page.input_value("#case_ref") == case


def test_without_its_token_the_page_says_where_the_token_is(tmp_path, make_config, agent_process, cli, browser):
    port = peers.free_port()
    token = "page-token-0123456789abcdef"
    path = make_config(extra={"web": {"host": "127.0.0.1", "port": port, "token": token}})
    agent_process(path)
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    page = browser.new_page(locale="de-DE")
    answer = page.goto(f"http://127.0.0.1:{port}/")
    assert answer.status == 401
    shown = page.text_content("body")
    assert "Diese Seite braucht ihren Schlüssel" in shown and "diag-agent page-link" in shown and token not in shown
    link = cli("page-link", "--config", path).stdout.strip()
    assert link == f"http://127.0.0.1:{port}/?token={token}"
    page.goto(link)
    page.wait_for_selector("h1:has-text('Wallbox-Diagnose')")
    api = requests.get(f"http://127.0.0.1:{port}/api/status", headers={"Accept-Language": "en"}, timeout=10)
    assert api.status_code == 401 and "sticker" in api.json()["error"]


def test_report_html_puts_the_verdict_first_and_reads_on_a_phone(box, simulator, tmp_path, cli, browser, shots):
    rig = box()
    fault(simulator, "lost_phase")
    peers.wait_for(
        lambda: json.loads(cli("check", "--json", "--config", rig["config"]).stdout)["where"], 30, "the fault placed"
    )
    peers.wait_for(lambda: "C" in cli("poll", "--once", "--json", "--config", rig["config"]).stdout, 5, "a poll")
    bundle = tmp_path / "report.tar.gz"
    made = cli("report", *peers.report_argv("Phase L3 is gone"), "--out", bundle, "--config", rig["config"])
    assert made.returncode == 0, made.stderr
    with tarfile.open(bundle) as tar:
        (tmp_path / "report.html").write_bytes(tar.extractfile("report.html").read())
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto((tmp_path / "report.html").as_uri())
    top = page.text_content(".where")
    assert "The fault is in the supply (grid or installation)." in top and "No voltage on L3 at meter" in top
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # charts scale, nothing scrolls sideways
    # Every legend in the colour of its line.
    legends = page.evaluate(
        "[...document.querySelectorAll('svg.chart')].flatMap(svg => [...svg.querySelectorAll('path.series')]"
        ".map((line, i) => [line.getAttribute('stroke'), getComputedStyle(svg.querySelectorAll('text.legend')[i]).fill]))"
    )
    assert legends and all(_rgb(stroke) == fill for stroke, fill in legends), legends
    states = page.evaluate(
        "[...document.querySelectorAll('svg.chart[aria-label=\"Vehicle state\"] text.axis')].map(t => t.textContent)"
    )
    assert states and set(states[2:]) <= set("ABCDEF"), states
    assert page.is_visible("h2:has-text('Log tails')")
    page.screenshot(path=str(shots / "report-top-390.png"))


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_every_state_of_the_page_in_german_has_no_english(
    tmp_path, certs, broker, make_config, agent_process, simulator, sim_bus, browser, shots
):
    from tests.integration.test_conversation import intake_cmd

    intake = peers.start_intake(tmp_path / "intake-run", certs["cert"], certs["key"], mqtt_port=broker.info["port"])
    try:
        port = peers.free_port()
        path = make_config(
            buses=[sim_bus],
            devices=peers.sim_devices(),
            backend={"url": intake.info["url"], "ca_file": certs["ca"]},
            mqtt={"enabled": True, "port": broker.info["port"]},
            extra={"web": {"port": port}, "faults": {"raise_after_s": 0, "clear_after_s": 0}},
        )
        agent_process(path)
        peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
        page = browser.new_page(viewport={"width": 360, "height": 800}, locale="de-DE")
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#box-name:has-text('Seriennummer')", timeout=20_000)

        def german(step: str) -> None:
            assert no_english(page) == [], step
            page.screenshot(path=str(shots / f"de-{step}.png"), full_page=True)

        german("normal")
        fault(simulator, "vehicle_failure")
        page.wait_for_selector("#where-sentence:has-text('am Auto')", timeout=20_000)
        german("fault")
        page.click("#onsite-toggle")
        page.wait_for_selector("#onsite-state:has-text('AN')")
        page.fill("#subject", "x")
        page.click("#send")
        page.wait_for_selector(".error[data-for=subject]:has-text('3 bis 100 Zeichen')")
        german("form-error")
        page.fill("#subject", "Lädt nicht")
        page.fill("#description", "Das Auto meldet einen Fehler, sobald es angesteckt wird.")
        page.fill("#email", "installateur@example.com")
        page.click("#send")
        page.wait_for_selector("#sent-note:has-text('Ihre Fallnummer ist CASE-000001')", timeout=30_000)
        german("sent")
        intake_cmd(tmp_path, "request-photo", "CASE-000001", "type_plate", "Bitte ein Foto vom Typenschild.")
        intake_cmd(tmp_path, "ask", "CASE-000001", "Ist der FI-Schalter eingeschaltet?")
        page.wait_for_selector("#questions:has-text('FI-Schalter')", timeout=20_000)
        german("questions")
        page.fill("#questions textarea", "Ja, er ist eingeschaltet.")
        page.click("#questions button:has-text('Antwort senden')")
        page.wait_for_selector("#cases .said:has-text('Ja, er ist eingeschaltet')", timeout=20_000)
        german("answered")
        assert "Antwort auf Q3 zu CASE-000001" in page.text_content("#reports")  # the box's own article, in German
    finally:
        intake.stop()


def test_an_outdated_box_says_what_the_update_changes_and_may_send_anyway(
    tmp_path, certs, make_config, agent_process, browser
):
    notes = "Fixes charging that stops after a minute with some cars."
    intake = peers.start_intake(
        tmp_path / "intake-run", certs["cert"], certs["key"], extra=["--release", f"stable=2.5.0:{notes}"]
    )
    try:
        port = peers.free_port()
        path = make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"]}, extra={"web": {"port": port}})
        agent_process(path)
        peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#checklist li.warn:has-text('not the current release')", timeout=20_000)
        assert f"What the update changes, in the maker's words: {notes}" in page.text_content("#checklist")
        assert "not the current stable release (2.5.0)" in page.text_content("#box-software")
        assert page.is_enabled("#send")  # the offer to send anyway
    finally:
        intake.stop()
