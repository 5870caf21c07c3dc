"""The system report: complete, redacted, within its size cap, deterministic, and readable in a browser."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess

import pytest

from agent import config
from agent.collect import Box
from agent.devices.history import History
from agent.report.build import build, collect_sections
from agent.report.bundle import read_bundle
from agent.request import ReportRequest
from agent.watch.checks import judged
from rigs import peers
from tests.unit.test_report import CANARIES, fake_health, members_of  # noqa: F401  (fixtures and helpers shared with that tier)


@pytest.fixture
def secret_box(tmp_path, make_config):
    """A box whose configuration, logs and hooks are full of canary secrets."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("firmware_version", "firmware_logs", "cloud_credentials"):
        (hooks / name).symlink_to(peers.ROOT / "firmware_hooks" / name)
    leaky = hooks / "cloud_client"
    leaky.write_text(
        "#!/bin/sh\n"
        f"echo 'login with {CANARIES['declared']} failed' >&2\n"
        f'echo \'{{"api_token": "{CANARIES["token"]}", "secrets": ["{CANARIES["declared"]}"], '
        f'"note": "session {CANARIES["declared"]}", "broker": "mqtts://box:{CANARIES["mqtt"]}@cloud"}}\'\n'
    )
    leaky.chmod(0o755)
    (tmp_path / "firmware.log").write_text(
        "boot\n"
        f"mqtt connect user=box password={CANARIES['mqtt']}\n"
        f"upload to ftp://admin:{CANARIES['ftp']}@files.example.com/logs\n"
        f"backend https://bob:{CANARIES['url']}@support.example.com/api\n"
    )
    (tmp_path / "cloud.json").write_text(json.dumps({"password": CANARIES["mqtt"]}))
    path = make_config(
        backend={"url": f"https://bob:{CANARIES['url']}@127.0.0.1:1/api/v1/reports"},
        mqtt={"enabled": False, "username": "box", "password": CANARIES["mqtt"]},
        extra={"hooks": {"dir": str(hooks)}},
    )
    return path


def test_no_canary_secret_reaches_the_bundle(tmp_path, secret_box, cli):
    out = tmp_path / "report.tar.gz"
    result = cli(
        "report", "--config", secret_box, *peers.report_argv(f"my password is {CANARIES['mqtt']}"), "--out", out
    )
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert b"CANARY" not in data
    members = members_of(data)
    for name, body in members.items():
        assert b"CANARY" not in body, name
    assert b"CANARY" not in gzip.decompress(data)
    manifest = json.loads(members["manifest.json"])
    where = {(r["where"], r["how"]) for r in manifest["redactions"]}
    assert ("logs", "value") in where and ("logs", "url password") in where
    assert ("hooks", "key api_token") in where and ("config", "key password") in where
    assert ("manifest", "value") in where
    assert all(isinstance(r["count"], int) and r["count"] > 0 for r in manifest["redactions"])
    # What is not secret stays readable.
    log = members["log-fw-firmware.log.txt"].decode()
    assert "upload to ftp://admin:[REDACTED]@files.example.com/logs" in log
    hooks = json.loads(members["hooks.json"])
    assert hooks["cloud_credentials"]["output"] == {"configured": True}
    assert "secrets" not in hooks["cloud_client"]["output"]


def test_a_50_mb_log_keeps_the_report_under_the_cap_and_says_so(tmp_path, make_config, cli):
    big = tmp_path / "firmware.log"
    with open(big, "w") as f:
        line = "2026-11-25 08:00:00 charge controller: status poll ok, 16 A offered, state C\n"
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            f.write(line)
    out = tmp_path / "r.tar.gz"
    result = cli("report", "--config", make_config(), *peers.report_argv("Report to a file"), "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size <= 1_000_000
    manifest, members = read_bundle(out.read_bytes())
    (cut,) = [c for c in manifest["cuts"] if "fw-firmware.log" in c["what"]]
    assert f"{big.stat().st_size} bytes" in cut["what"] and "newest" in cut["what"]
    assert members["log-fw-firmware.log.txt"].decode().count("\n") == 200


def test_inspect_lists_cuts_and_redactions_and_writes_the_page(tmp_path, secret_box, cli):
    out = tmp_path / "r.tar.gz"
    assert cli("report", "--config", secret_box, *peers.report_argv("Report to a file"), "--out", out).returncode == 0
    page = tmp_path / "page.html"
    result = cli("inspect", out, "--html", page)
    assert result.returncode == 0, result.stderr
    assert "every checksum OK" in result.stdout
    assert re.search(r"redactions \d+\n(  .*\n)*  config: key password x1", result.stdout)
    assert "cuts      none" in result.stdout  # a 4-line log needs no cut
    assert page.read_text().startswith("<!DOCTYPE html>")


def chromium(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_report_html_draws_its_charts_in_chromium(tmp_path, make_config):
    cfg = config.load(make_config())
    history = History()
    for i in range(2 * 720):
        t = 1000.0 + 5 * i
        for n in range(1, 4):
            history.add("meter", f"voltage_l{n}", 229 + n + (i % 13) / 10, t, 1.79e9 + t, 5.0)
            history.add("meter", f"current_l{n}", 16.0 if i % 300 > 100 else 0.0, t, 1.79e9 + t, 5.0)
        history.add("meter", "total_power", 11000.0 if i % 300 > 100 else 0.0, t, 1.79e9 + t, 5.0)
        history.add("evse", "vehicle_state", 3 if i % 300 > 100 else 1, t, 1.79e9 + t, 5.0)
    timeline = [
        {
            "kind": "raised",
            "code": "phase_lost",
            "message": "phase L3 has no voltage",
            "wall": 1.79e9 + 3000,
            "mono": 3000.0,
            "device": "meter",
            "severity": "error",
            "category": "hardware",
        }
    ]
    faults = [
        {
            "code": "phase_lost",
            "device": "meter",
            "severity": "error",
            "category": "hardware",
            "message": "phase L3 has no voltage",
            "since_wall": 1.79e9 + 3000,
            "since_mono": 3000.0,
        }
    ]
    sections = collect_sections(cfg, judged(cfg, Box({}, fake_health(), faults, timeline, history.freeze())))
    out = io.BytesIO()
    build(out, cfg, ReportRequest(subject="charts"), sections, "20261125T080000Z-00000005", 1.79e9 + 8000, 9.0)
    page = members_of(out.getvalue())["report.html"].decode()
    assert "<script" not in page.lower() and not re.search(r"(src|href)=['\"]?https?:", page)
    html = tmp_path / "report.html"
    html.write_text(page)
    dom = chromium("--dump-dom", f"file://{html}", f"--user-data-dir={tmp_path / 'chrome'}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", dom.stdout, re.S)
    assert [re.search(r"aria-label=\"([^\"]+)\"", c).group(1) for c in charts] == [
        "Voltage",
        "Current",
        "Power",
        "Vehicle state",
    ]
    for c in charts:
        lines = re.findall(r" d=\"([^\"]*)\"", c)
        assert lines and all(len(re.findall("[vlh]", d)) > 50 for d in lines)
    assert all("phase_lost" in c for c in charts)  # the fault is marked on every time axis
    shot = tmp_path / "shot.png"
    result = chromium(
        f"--screenshot={shot}", "--window-size=1000,1400", f"--user-data-dir={tmp_path / 'chrome'}", f"file://{html}"
    )
    assert result.returncode == 0 and shot.stat().st_size > 20_000
