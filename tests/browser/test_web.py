"""The local web page in headless Chromium (Playwright driving the system's chromium), and its API's guards."""

from __future__ import annotations

import re

from rigs import peers
from tests.integration.test_web import GOOD, page_rig  # noqa: F401  (fixtures and helpers shared with that tier)


def test_fill_the_form_send_and_see_the_case_number(page_rig, browser, tmp_path):
    page = browser.new_page()
    page.goto(page_rig["url"])
    peers.wait_for(lambda: page.text_content("#check-result") != "…", 10, "the status panel")
    page.fill("#subject", "ok")
    page.fill("#description", "It stops charging after about one minute, every time.")
    page.fill("#email", "owner@example.com")
    page.click("#send")
    page.wait_for_selector(".error[data-for=subject]:has-text('3 to 100 characters')")
    page.fill("#subject", "Charging stops after a minute")
    page.click("#send")
    case = peers.wait_for(
        lambda: re.fullmatch(r"CASE-\d{6}", page.text_content("#case")) and page.text_content("#case"),
        30,
        "the case number on the page",
    )
    assert page.text_content("#priority") == "(low priority)"
    assert [li.get_attribute("class") for li in page.query_selector_all("ol.stages li")] == ["done"] * 4
    page.screenshot(path=str(tmp_path / "web-sent.png"), full_page=True)
    stored = peers.intake_cases(tmp_path / "intake-run" / "intake")
    assert [c["case"] for c in stored] == [case] and stored[0]["subject"] == "Charging stops after a minute"
    # The report can be taken away by hand, for the installer with no network.
    page.reload()
    link = page.wait_for_selector("#reports a")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.startswith("diag-report-")


def test_toggle_on_site_from_the_page(page_rig, browser, cli):
    page = browser.new_page()
    page.goto(page_rig["url"])
    page.wait_for_selector("#onsite-toggle:has-text('Start on-site mode')")
    page.click("#onsite-toggle")
    page.wait_for_selector("#onsite-state:has-text('ON')")
    assert "ON (by local)" in cli("onsite", "status", "--config", page_rig["config"]).stdout
    page.click("#onsite-toggle")
    page.wait_for_selector("#onsite-state:has-text('off')")
