"""The local web page in headless Chromium (Playwright driving the system's chromium), and its API's guards."""

from __future__ import annotations

import json
import re

import peers
import pytest
import requests


@pytest.fixture
def page_rig(tmp_path, make_config, intake, certs, agent_process):
    port = peers.free_port()
    path = make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"]}, extra={"web": {"port": port}})
    agent_process(path)
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    return {"url": f"http://127.0.0.1:{port}", "config": path}


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


def post(url, body, **headers):
    h = {"Content-Type": "application/json", "X-Requested-With": "diag-agent", **headers}
    return requests.post(url, data=json.dumps(body) if not isinstance(body, bytes) else body, headers=h, timeout=10)


GOOD = {
    "subject": "Charging stops after a minute",
    "description": "It stops after one minute, every time.",
    "email": "owner@example.com",
}


def test_writes_are_protected_against_cross_site_requests(page_rig):
    url = page_rig["url"] + "/api/onsite"
    assert post(url, {"on": True}, Origin="http://evil.example").status_code == 403
    no_header = requests.post(url, json={"on": True}, timeout=10)
    assert no_header.status_code == 403 and "X-Requested-With" in no_header.json()["error"]
    form = requests.post(
        url,
        data="on=true",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Requested-With": "diag-agent"},
    )
    assert form.status_code == 415
    rebound = requests.get(page_rig["url"] + "/api/status", headers={"Host": "evil.example:80"}, timeout=10)
    assert rebound.status_code == 403
    assert post(url, {"on": True}).status_code == 200  # the page itself may


@pytest.mark.parametrize(
    "body, field",
    [
        ({**GOOD, "subject": "x" * 101}, "subject"),
        ({**GOOD, "description": "short"}, "description"),
        ({**GOOD, "email": "not-an-address"}, "email"),
        ({**GOOD, "case_ref": "../../etc"}, "case_ref"),
        ({**GOOD, "on_site": "yes"}, "on_site"),
        ({**GOOD, "run": "rm -rf /"}, "_"),
    ],
)
def test_every_field_is_checked_with_a_clear_message(page_rig, body, field):
    r = post(page_rig["url"] + "/api/report", body)
    assert r.status_code == 422 and field in r.json()["errors"]


def test_a_lan_page_needs_its_token(tmp_path, make_config, agent_process, cli):
    bad = make_config(extra={"web": {"host": "0.0.0.0", "port": peers.free_port()}})
    result = cli("check-config", bad)
    assert result.returncode == 2 and "web.token: a page on a LAN address needs a token" in result.stderr
    port = peers.free_port()
    token = "a-long-enough-token-1234"
    path = make_config(extra={"web": {"host": "127.0.0.1", "port": port, "token": token}})
    agent_process(path)
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    base = f"http://127.0.0.1:{port}"
    assert requests.get(base + "/api/status", timeout=10).status_code == 401
    assert requests.get(base + "/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
    s = requests.Session()
    assert s.get(f"{base}/?token={token}", timeout=10).ok  # sets the cookie, then the page
    assert s.get(base + "/api/status", timeout=10).json()["ok"]
