"""The support side's parts on their own: the grammar of a staff follow-up for the box, the service times
behind a ticket's due date, support's command line on a store without a helpdesk, and the box's side of a
data request and a satisfaction check."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.test_intake import BERLIN, SECTIONS, store  # noqa: F401  (fixtures and helpers shared with that tier)


def intake(store, *args) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "backend", args[0], "--store", str(store), *args[1:]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_supports_command_line_says_whose_turn_it_is_and_refuses_what_it_cannot_do(store, tmp_path):
    listing = intake(store.folder, "list")
    assert listing.returncode == 0 and "CASE-000001" in listing.stdout and "support" in listing.stdout
    assert intake(store.folder, "ask", "CASE-000001", "Is the RCD on?").returncode == 0
    rows = json.loads(intake(store.folder, "list", "--json").stdout)
    assert rows[0]["turn"] == "the box" and rows[0]["open_questions"] == ["Q2"] and rows[0]["due"]
    shown = intake(store.folder, "show", "CASE-000001").stdout
    assert f"bundle: {store.folder}/bundles/" in shown and "Q2: Is the RCD on?  (open)" in shown
    wanted = intake(store.folder, "request-data", "CASE-000001", "--sections", "logs", "--window", "2h")
    assert wanted.returncode == 0, wanted.stderr
    (data,) = [m for m in store.state_for_box(store.get("CASE-000001"))["messages"] if m["kind"] == "data"]
    assert data["sections"] == ["logs"] and data["until"] - data["since"] == 7200
    for args, said in [
        (("show", "CASE-000404"), "no case CASE-000404"),
        (("ask", "CASE-000404", "anyone?"), "no case CASE-000404"),
        (("request-data", "CASE-000001", "--window", "2 hours"), "--window 2 hours: expected"),
        (("request-data", "CASE-000001", "--sections", "wiring"), "no such section wiring"),
        (("tell", "CASE-000001", "  "), "the text is empty"),
    ]:
        out = intake(store.folder, *args)
        assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    nowhere = intake(tmp_path / "nowhere", "list")
    assert nowhere.returncode == 2 and "is not an intake's store" in nowhere.stderr
