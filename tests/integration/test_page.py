"""The installer's page as people use it, in headless Chromium at 360 px and 1280 px, in English and German,
against the simulator's faults: the box explains itself, says where the fault is, walks through support's
checklist, sends one report per tap, and one visit makes one case. Screenshots go to test-artifacts/<test>/."""

from __future__ import annotations

import json
import re

import pytest
import requests

from rigs import peers

WIDTHS = (360, 1280)


@pytest.fixture
def box(tmp_path, make_config, intake, certs, agent_process, sim_bus, simulator):
    """The simulated wallbox, the intake and a daemon with its page; faults are raised and cleared at once."""

    def start(**extra):
        port = peers.free_port()
        path = make_config(
            buses=[sim_bus],
            devices=peers.sim_devices(),
            backend={"url": intake.info["url"], "ca_file": certs["ca"]},
            extra={
                "faults": {"raise_after_s": 0, "clear_after_s": 0, "cannot_charge_after_s": 10},
                **extra,
                "web": {"port": port, **extra.get("web", {})},
            },
        )
        agent_process(path)
        peers.wait_for(lambda: peers.port_open(port), 10, "the local page")
        return {"url": f"http://127.0.0.1:{port}", "config": path, "port": port}

    return start


def fault(simulator, name: str, onoff: str = "on") -> None:
    assert peers.simulator_command(simulator, "fault", name, onoff)["ok"]


# What each simulator fault is, as the daemon places it: the check asks the running daemon.
PLACES = {
    "lost_phase": "supply",
    "overvoltage": "supply",
    "frequency": "supply",
    "vehicle_failure": "car",
    "no_current": "box",
    "meter_silent": "box",
    "evse_silent": "box",
    "firmware_update": "box",
}


def test_each_simulator_fault_lands_in_its_place(box, simulator, cli):
    rig = box(
        faults={"raise_after_s": 0, "clear_after_s": 0, "cannot_charge_after_s": 10, "unreachable_after_cycles": 1}
    )

    def places():
        out = cli("check", "--json", "--config", rig["config"]).stdout
        return [f["place"] for f in json.loads(out)["where"]]

    peers.wait_for(lambda: places() == [], 30, "a box without a fault")
    found = {}
    for name, place in PLACES.items():
        fault(simulator, name)
        found[name] = peers.wait_for(lambda p=place: p in places() and places(), 40, f"{name} placed")
        assert found[name][0] == place, (name, found[name])
        fault(simulator, name, "off")
        if name != "firmware_update":  # a firmware change is news for firmware_change_hold_s, by design
            peers.wait_for(lambda: place not in places(), 40, f"{name} cleared")
    print(json.dumps(found))


def test_the_page_limits_its_reports_and_says_so_in_the_readers_language(box, tmp_path):
    rig = box(web={"reports_per_hour": 2})
    headers = {"X-Requested-With": "diag-agent", "Accept-Language": "de-DE,de;q=0.9"}
    body = dict(peers.report_fields("Laden bricht ab"), description="Das Auto lädt eine Minute und hört dann auf.")
    answers = [requests.post(rig["url"] + "/api/report", json=body, headers=headers, timeout=30) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["error"].startswith("Von dieser Seite wurden in der letzten Stunde 2 Berichte gesendet")
    bad = requests.post(rig["url"] + "/api/report", json={"subject": "x"}, headers=headers, timeout=10).json()
    assert bad["error"] == "bitte das Formular prüfen" and bad["errors"]["email"].startswith("3 bis 254 Zeichen")
    log = (tmp_path / "state" / "security.log").read_text()
    assert "page_reports_limited" in log and "more than 2 reports in an hour" in log


def test_the_demo_stays_up_with_its_page_until_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys

    demo = subprocess.Popen(
        [sys.executable, "-m", "tools.demo", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        said = "".join(lines)
        url = re.search(r"local page: (http://127\.0\.0\.1:\d+/)", said).group(1)
        folder = re.search(r"demo folder: (\S+)", said).group(1)
        assert "support_intake.py ask" in said and "request-photo" in said
        # Support's side runs in django-helpdesk on PostgreSQL: its login page answers.
        helpdesk = re.search(r"Support's helpdesk: (http://127\.0\.0\.1:\d+/)", said).group(1)
        assert requests.get(helpdesk + "login/", timeout=10).status_code == 200

        def place():
            return (
                (requests.get(url + "api/status", timeout=5).json().get("explained") or {})
                .get("where", {})
                .get("place")
            )

        assert peers.wait_for(place, 30, "the lost phase placed on the page") == "supply"
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=60)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0 and "stopping" in rest, rest
    assert not peers.port_open(int(url.rsplit(":", 1)[1].strip("/")))
    assert not __import__("os").path.exists(folder)  # nothing left behind without --keep
