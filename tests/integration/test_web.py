"""The local web page in headless Chromium (Playwright driving the system's chromium), and its API's guards."""

from __future__ import annotations

import json

import pytest
import requests

from rigs import peers


@pytest.fixture
def page_rig(tmp_path, make_config, intake, certs, agent_process):
    port = peers.free_port()
    path = make_config(backend={"url": intake.info["url"], "ca_file": certs["ca"]}, extra={"web": {"port": port}})
    agent_process(path)
    peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
    return {"url": f"http://127.0.0.1:{port}", "config": path}


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
