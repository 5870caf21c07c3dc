"""The judged look in a person's words (agent/lang/), for the page, `diag-agent check` and report.html alike:
the box's state in a sentence, where the fault is and why, and what needs a look with what to do.

Nothing is judged here: the verdicts are on the Box (watch/checks.judged) and the places come from the rule
table (watch/judge/locate.py). Only the words are chosen, in the language asked for.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.collect import Box
from agent.lang import filled
from agent.vocab import Status
from agent.watch.judge.verdict import fault_status


def seen(words: dict, code: str, subject: str, fill: Mapping, fallback: str = "") -> str:
    """What a fault (or a link's verdict) saw, in a sentence of this language."""
    template = words["fault_messages"].get(code) or words["link_evidence"].get(code)
    return filled(template, dict(fill, device=subject), fallback) if template else fallback


def where(box: Box, words: dict) -> dict:
    """Where the fault is: the first place, its evidence and the next step; place None when nothing is wrong."""
    return where_of(list((box.verdicts or {}).get("where") or []), words)


def where_of(findings: list[dict], words: dict) -> dict:
    """WHERE from the findings of a look (watch/judge/locate.py Finding.to_dict)."""
    if not findings:
        return {"place": None, "sentence": words["where_none"], "evidence": [], "next": "", "also": ""}
    first = findings[0]["place"]
    evidence = []
    for f in findings:
        line = words["evidence"].format(
            seen=seen(words, f["code"], f["subject"], f["fill"], f["code"]), why=words["place_why"][f["place"]]
        )
        if line not in evidence:
            evidence.append(line)
    others = list(dict.fromkeys(f["place"] for f in findings if f["place"] != first))
    return {
        "place": first,
        "sentence": words["where_sentence"].format(place=words["places"][first]),
        "evidence": evidence,
        "next": words["next_steps"][first],
        "also": words["also_in"].format(places=", ".join(words["places"][p] for p in others)) if others else "",
    }


def problems(box: Box, words: dict) -> list[dict]:
    """Every check that warns or fails and every active fault, once each: a title, what it means and what to
    do (the check's hint), and the box's own details labelled as such. The worst first. (No data is not
    listed: where it matters, the check of the device that should give it fails.)"""
    faults = {f"{f['code']}|{f['device']}": f for f in box.faults}
    out, told = [], set()
    for c in (box.checks or {}).get("checks", []):
        if c["status"] in (Status.PASS, Status.NO_DATA):
            continue
        mine = [faults[k] for k in c["faults"] if k in faults]
        told.update(c["faults"])
        title = words["fault_titles"].get(mine[0]["code"], c["title"]) if mine else c["title"]
        out.append(
            {
                "status": c["status"],
                "title": title,
                "hint": c["hint"],
                "details": c["detail"],
                "since": mine[0]["since_wall"] if mine else None,
            }
        )
    for key, f in faults.items():  # a fault no check explains: a firmware's own, or one not judged this look
        if key in told:
            continue
        out.append(
            {
                "status": fault_status(f["severity"]),
                "title": words["fault_titles"].get(f["code"], f["code"]),
                "hint": (seen(words, f["code"], f["device"], f.get("fill") or {}) + ". " + words["fault_other"]).lstrip(
                    ". "
                ),
                "details": f"{f['code']} ({f['device']}): {f['message']}",
                "since": f["since_wall"],
            }
        )
    return sorted(out, key=lambda p: -Status(p["status"]).rank)


def state_line(box: Box, words: dict) -> str:
    """The box's state in one sentence (and the next step, when there is a fault)."""
    found = where(box, words)
    if found["place"]:
        return words["state_fault"].format(place_sentence=found["sentence"], next=found["next"])
    return words["state_look"] if problems(box, words) else words["state_ok"]


def identity(model: str, serial: str, box: Box, words: dict) -> dict:
    """Who the box is: model and serial, its software and whether that is the current release, its uptime."""
    software, uptime = box.health["software"], box.health["system"].get("uptime_s")
    verdict = (box.verdicts or {}).get("software", {}).get("verdict", "unknown")
    latest = software.get("latest", {}).get("version") or "?"
    return {
        "model_serial": words["model_serial"].format(model=model, serial=serial),
        "software": words["software_line"].format(
            version=software["firmware_version"],
            verdict=words["software_verdicts"][verdict].format(channel=software["channel"], latest=latest),
        ),
        "software_current": verdict == "up to date",
        "uptime": words["uptime"].format(hours=int(uptime // 3600), minutes=int(uptime % 3600 // 60))
        if isinstance(uptime, (int, float))
        else "",
    }


def live(box: Box, words: dict) -> dict:
    """The readings an installer looks at: voltage, current and power per phase from the device that measures the
    mains (a meter first), and the vehicle's state in words, the offered current and this charge."""
    heard = [d for d in box.devices.values() if d.reachable]
    mains = sorted((d for d in heard if d.measures_mains), key=lambda d: d.kind != "meter")
    phases = []
    if mains:
        m = mains[0]
        for n in (1, 2, 3):
            row = {k: m.value(f"{k}_l{n}") for k in ("voltage", "current", "power")}
            if any(v is not None for v in row.values()):
                phases.append({"phase": f"L{n}", **row})
    vehicle = None
    controller = next((d for d in heard if d.has_vehicle_state), None)
    if controller is not None:
        state = controller.iec_state
        offered = controller.value("actual_current")
        offered = controller.value("configured_current") if offered is None else offered
        kwh, seconds = controller.value("session_energy"), controller.value("charge_time")
        vehicle = {
            "state": state,
            "words": words["iec_states"].get(state or "", "?"),
            "offered": f"{words['offered']} {offered:g} A" if isinstance(offered, (int, float)) else "",
            "session": words["session"]
            + " "
            + words["session_value"].format(kwh=f"{kwh:.2f}", minutes=round(seconds / 60))
            if isinstance(kwh, (int, float)) and isinstance(seconds, (int, float))
            else "",
        }
    return {"meter": mains[0].name if mains else None, "phases": phases, "vehicle": vehicle}


def explained(box: Box, language: str, model: str = "", serial: str = "") -> dict:
    """All of the above for one look, in LANGUAGE."""
    from agent.lang import load

    words = load(language)["page"]
    checks = {c["id"]: c for c in (box.checks or {}).get("checks", [])}
    verdict = (box.verdicts or {}).get("software", {}).get("verdict")
    return {
        "checklist": {  # what support will ask, as the self-check found it
            "software_current": None if verdict in (None, "unknown") else verdict == "up to date",
            "update_notes": box.health["software"].get("latest", {}).get("notes") or "",
            "commissioning": checks.get("commissioning", {}).get("status") == Status.PASS,
            "credentials": checks.get("cloud_credentials", {}).get("status") == Status.PASS,
        },
        "network": checks.get("network", {}).get("hint", ""),
        "box": identity(model, serial, box, words),
        "readings": live(box, words),
        "state": state_line(box, words),
        "where": where(box, words),
        "problems": problems(box, words),
    }


def where_lines(findings: list[dict], language: str) -> list[str]:
    """Where the fault is, as lines for the command line."""
    from agent.lang import load

    words = load(language)["page"]
    found = where_of(findings, words)
    lines = [f"{words['where_title']}: {found['sentence']}"]
    lines += [f"  - {e}" for e in found["evidence"]]
    if found["next"]:
        lines.append(f"  {words['next_step']} {found['next']}")
    if found["also"]:
        lines.append(f"  {found['also']}")
    return lines
