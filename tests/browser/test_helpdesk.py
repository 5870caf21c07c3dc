"""Support works in a real helpdesk: django-helpdesk on Debian's PostgreSQL, started here, with the intake
between it and a real box. The whole conversation (report -> ticket; a staff question -> the box -> its
answer -> a follow-up; a photo request -> the photo attached; a data request answered by the box alone;
resolved -> the satisfaction check -> a reply reopens), the chase on an injected clock, two intake workers
racing on retried reports, shared MQTT subscriptions and MQTT 3.1.1. Screenshots go to test-artifacts/."""

from __future__ import annotations

import requests

from rigs import peers
from tests.integration.test_helpdesk import (  # noqa: F401  (fixtures and helpers shared with that tier)
    ARTIFACTS,
    WEB,
    box,
    databases,
    desk,
    followup,
    postgres,
    report,
    staff_says,
    start_worker,
)
from tests.unit.test_cases import camera_jpeg


def test_the_whole_conversation_runs_through_django_helpdesk(desk, cli, browser):
    helpdesk, web = desk["helpdesk"], desk["web"]
    case = report(cli, desk["config"], "Charging stops after a minute")
    ticket_id = int(case.rsplit("-", 1)[1])
    # A ticket in the queue, its priority mapped, due by the service times, the report attached.
    ticket = helpdesk.api(f"tickets/{ticket_id}/")
    assert ticket["queue"] == 1 and ticket["priority"] == 3 and ticket["status"] == 1 and ticket["due_date"]
    assert "Charging stops after a minute" in ticket["title"] and "Software: 2.4.1" in ticket["description"]
    first = peers.wait_for(lambda: followup(helpdesk, ticket_id, "from the box (via https)", 3), 15, "the report")
    names = sorted(a["filename"].split("-")[0] for a in first["followupattachment_set"])
    assert names == ["bundle", "report", "summary"] and "Faults:" in first["comment"]

    # Staff ask in the helpdesk: the box shows the question, the ticket waits for the box.
    staff_says(helpdesk, ticket_id, "Question: Is the RCD in the distribution board switched on?")
    asked = peers.wait_for(lambda: box(web, "/api/cases")["open_questions"], 15, "the question on the box")
    assert asked[0]["text"] == "Is the RCD in the distribution board switched on?" and asked[0]["case"] == case
    peers.wait_for(lambda: helpdesk.api(f"tickets/{ticket_id}/")["status"] == 6, 15, "waiting for the box")
    box(web, "/api/answer", {"case": case, "question": asked[0]["id"], "text": "Yes, it is on and does not trip."})
    answer = peers.wait_for(lambda: followup(helpdesk, ticket_id, "Yes, it is on and does not trip."), 20, "answer")
    assert answer["comment"].startswith(f"Answer from the box to {asked[0]['id']}")
    peers.wait_for(lambda: helpdesk.api(f"tickets/{ticket_id}/")["status"] == 1, 15, "open again")

    # A photo request: the page offers the picker for that view; the photo comes back attached.
    staff_says(helpdesk, ticket_id, "Photo of type plate: Please photograph the type plate.")
    wanted = peers.wait_for(lambda: box(web, "/api/cases")["open_questions"], 15, "the photo request")
    assert wanted[0]["photo"] == "type_plate"
    q = wanted[0]["id"]
    box(web, f"/api/photo?case={case}&label=type_plate&question={q}", raw=camera_jpeg(), kind="image/jpeg")
    photo = peers.wait_for(lambda: followup(helpdesk, ticket_id, f"(for {q})", 1), 20, "the photo on the ticket")
    (attachment,) = photo["followupattachment_set"]
    assert attachment["filename"].endswith(".jpg") and attachment["mime_type"] == "image/jpeg"
    token = {"Authorization": f"Token {helpdesk.support_token}"}
    jpeg = requests.get(attachment["file"], headers=token, timeout=10)
    assert jpeg.content.startswith(b"\xff\xd8") and b"PhoneMaker" not in jpeg.content  # stripped on the box
    assert "sandbox" in jpeg.headers["Content-Security-Policy"]

    # A data request: the box answers it by itself, at once, as a follow-up report of this case.
    staff_says(helpdesk, ticket_id, "Data logs, history last 2h: The meter readings of the last two hours, please.")
    data = peers.wait_for(lambda: followup(helpdesk, ticket_id, "for support's data request", 3), 30, "the box's data")
    archive = next(a for a in data["followupattachment_set"] if a["filename"].startswith("bundle-"))
    from agent.report.bundle import read_bundle

    # Served as .tar.gz with Content-Encoding: gzip (Django's static serving): the bytes as stored, undecoded.
    stored = requests.get(archive["file"], headers=token, timeout=10, stream=True).raw.read(decode_content=False)
    manifest, members = read_bundle(stored)
    assert manifest["sections_requested"] == ["history", "logs"] and manifest["case_ref"] == case
    assert manifest["window"]["oldest"] and manifest["trigger"] == "follow-up" and "system.json" not in members
    shown = peers.wait_for(
        lambda: [
            m for c in box(web, "/api/cases")["cases"] for m in c["messages"] if m["kind"] == "data" and m["said"]
        ],
        15,
        "the data request answered on the page",
    )
    assert shown[0]["said"] == manifest["report_id"]

    # Resolved in the helpdesk: solved on the box; the satisfaction check is recorded, and does not reopen.
    staff_says(helpdesk, ticket_id, "The RCD had tripped; it holds now. Solved.", status=3)
    peers.wait_for(lambda: box(web, "/api/cases")["cases"][0]["state"] == "solved", 15, "solved on the box")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"http://127.0.0.1:{web}/")
    page.click("#cases .feedback button:has-text('Easy')")
    peers.wait_for(lambda: followup(helpdesk, ticket_id, "getting help was easy"), 20, "the satisfaction check")
    page.wait_for_selector("#cases .meta:has-text('Thank you')", timeout=15_000)
    assert helpdesk.api(f"tickets/{ticket_id}/")["status"] == 3
    # A reply from the box reopens it.
    box(web, "/api/answer", {"case": case, "question": None, "text": "It tripped again this morning."})
    peers.wait_for(lambda: helpdesk.api(f"tickets/{ticket_id}/")["status"] == 2, 20, "reopened in the helpdesk")
    peers.wait_for(lambda: box(web, "/api/cases")["cases"][0]["state"] == "reopened", 15, "reopened on the box")
    # The installer comes: a report naming the case, on site, raises the ticket to the top priority.
    out = cli("report", "--config", desk["config"], *peers.report_argv("On site now"), "--case", case, "--on-site")
    assert out.returncode == 0 and f"case {case}" in out.stdout, out.stdout + out.stderr
    peers.wait_for(lambda: helpdesk.api(f"tickets/{ticket_id}/")["priority"] == 1, 15, "on-site priority")
    assert followup(helpdesk, ticket_id, "On site: YES, an installer is at the box")
    screenshot_ticket(browser, helpdesk, ticket_id)


def screenshot_ticket(browser, helpdesk, ticket_id: int) -> None:
    """The ticket as support sees it in the helpdesk, for the closing note and the README."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{helpdesk.url}login/")
    page.fill("input[name=username]", "support")
    page.fill("input[name=password]", helpdesk.support_password)
    page.click("[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{helpdesk.url}tickets/{ticket_id}/")
    page.wait_for_selector("text=Answer from the box", timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "ticket.png"), full_page=True)
