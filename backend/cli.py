"""Support's command line, for the demo and for teams without the helpdesk at hand: list the cases with whose
turn it is and when each is due, show one with its bundle and summary, and speak to a box (ask, request a
photo or data, tell, solve). With a helpdesk it writes there, as a person would; the box hears it the same
way. A store that is not an intake's, or a case it does not hold, is an error (exit 2).

    list --store DIR [--json]                 show --store DIR CASE [--json]
    ask --store DIR CASE TEXT                 request-photo --store DIR CASE VIEW [TEXT]
    request-data --store DIR CASE [TEXT] [--sections S ...] [--window 2h]
    tell --store DIR CASE TEXT                solve --store DIR CASE [TEXT]
    chase --store DIR [--now 2026-12-03T09:00:00+00:00]
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from agent.contract import PHOTO_VIEWS, PRIORITIES
from backend.helpdesk.desk import SERVICE_TARGET, DeskError, Said
from backend.rules import Rejected, open_questions
from backend.rules.cases import CaseStore
from backend.stores import Refused, open_store

TURN = {"open": "support", "reopened": "support", "waiting": "the box", "solved": "nobody (solved)"}


def add_commands(sub) -> None:
    def command(name: str, *, case: bool = True, text: str | None = None):
        p = sub.add_parser(name)
        p.add_argument("--store", required=True)
        if case:
            p.add_argument("case")
        if text == "required":
            p.add_argument("text")
        elif text == "optional":
            p.add_argument("text", nargs="?", default="")
        return p

    command("list", case=False).add_argument("--json", action="store_true")
    command("show").add_argument("--json", action="store_true")
    command("ask", text="required")
    photo = command("request-photo")
    photo.add_argument("view", choices=PHOTO_VIEWS)
    photo.add_argument("text", nargs="?", default="")
    data = command("request-data", text="optional")
    data.add_argument("--sections", nargs="+", default=[], help="only these sections of the report")
    data.add_argument("--window", help="full-rate history of the last N minutes, hours or days: 30m, 2h, 1d")
    command("tell", text="required")
    command("solve", text="optional")
    command("chase", case=False).add_argument("--now", help="the time to chase at (ISO 8601); default: now")


def run_command(args) -> int:
    try:
        store = open_store(Path(args.store))
        return COMMANDS[args.cmd](store, args)
    except (Refused, Rejected) as exc:
        print(f"support_intake.py {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except DeskError as exc:
        print(f"support_intake.py {args.cmd}: the helpdesk did not take it: {exc}", file=sys.stderr)
        return 1


def _when(t: float | None, zone: str = "Europe/Berlin") -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M") if t else "-"


def list_cases(store: CaseStore, args) -> int:
    cases = sorted(store.cases, key=lambda c: (c["state"] == "solved", PRIORITIES.index(c["priority"]), c["due"]))
    if args.json:
        print(json.dumps([dict(_row(c), subject=c["subject"]) for c in cases], indent=1))
        return 0
    if not cases:
        print(f"no cases yet in {store.folder}")
        return 0
    print(
        f"{'case':<12} {'state':<8} {'priority':<8} {'on-site':<7} {'whose turn':<15} {'due':<20} "
        f"{'subject':<40} service target"
    )
    for c in cases:
        r = _row(c)
        print(
            f"{c['case']:<12} {c['state']:<8} {c['priority']:<8} {'yes' if c['on_site'] else 'no':<7} "
            f"{r['turn']:<15} {_when(c['due'], store.zone):<20} {c['subject'][:40]:<40} "
            f"{SERVICE_TARGET[c['priority']]}"
        )
    return 0


def _row(case: dict) -> dict:
    return {
        "case": case["case"],
        "state": case["state"],
        "priority": case["priority"],
        "on_site": case["on_site"],
        "turn": TURN[case["state"]],
        "due": case["due"],
        "open_questions": [q["id"] for q in open_questions(case)],
    }


def show(store: CaseStore, args) -> int:
    case = store.get(args.case)
    if args.json:
        print(json.dumps(case, indent=1))
        return 0
    print(
        f"{case['case']}  {case['state']} ({TURN[case['state']]}'s turn)  {case['priority']} priority"
        + ("  ON SITE" if case["on_site"] else "")
    )
    print(f"box {case['box']}: {case['subject']}")
    print(f"due {_when(case['due'], store.zone)} (service target: {SERVICE_TARGET[case['priority']]})")
    if case.get("feedback"):
        print(f"satisfaction check: {case['feedback']}")
    first = case["articles"][0]
    print(*(f"  {line}" for line in first.get("summary", [])), sep="\n")
    for a in case["articles"]:
        head = f"  {_when(a['at'], store.zone)}  {a['by']:<7} {a['kind']:<9}"
        if a["by"] == "support":
            what = f" (photo of {a['photo']})" if a.get("photo") else ""
            if a["kind"] == "data":
                sections = ", ".join(a.get("sections") or []) or "all"
                what = f" (sections: {sections}; since {_when(a.get('since'), store.zone)})"
            state = "  (answered)" if a.get("answered") else "  (open)" if a["kind"] in ("question", "data") else ""
            print(f"{head} {a['id']}: {a['text']}{what}{state}")
            continue
        if a["kind"] == "answer":
            print(f"{head} to {a.get('question') or 'the case'}: {a.get('text', '')}")
        elif a["kind"] == "photo":
            print(f"{head} {a.get('label', '')}: {a.get('file', '(no image)')} ({a.get('bytes', 0)} bytes)")
        elif a["kind"] == "feedback":
            print(f"{head} getting help was {'easy' if a.get('easy') else 'not easy'}")
        else:
            print(f"{head} {a['report_id']} via {a['transport']}: {a['subject']}")
        print(f"{' ' * 29}bundle: {store.bundle_path(a['sha256'])}")
    return 0


WINDOW = re.compile(r"^(\d{1,4})(m|h|d)$")


def speak(store: CaseStore, args) -> int:
    store.get(args.case)  # an unknown case is said before anything is written
    text = args.text.strip() if getattr(args, "text", None) else ""
    if args.cmd == "solve":
        case = store.support(args.case, None, solve=text or "Solved by support.")
    else:
        said = said_of(args, text)
        case = store.support(args.case, said)
    print(f"{case['case']}: {case['state']} ({TURN[case['state']]}'s turn), {case['priority']} priority")
    return 0


def said_of(args, text: str) -> Said:
    if args.cmd in ("ask", "tell"):
        if not text:
            raise Refused("say something: the text is empty")
        return Said("question" if args.cmd == "ask" else "message", text)
    if args.cmd == "request-photo":
        return Said("photo", text or f"Please send a photo of the {args.view.replace('_', ' ')}.", view=args.view)
    last = None
    if args.window:
        m = WINDOW.match(args.window)
        if not m:
            raise Refused(f"--window {args.window}: expected minutes, hours or days, such as 30m, 2h or 1d")
        last = int(m[1]) * {"m": 60, "h": 3600, "d": 86400}[m[2]]
    unknown = [s for s in args.sections if s not in store_sections()]
    if unknown:
        raise Refused(f"--sections: no such section {', '.join(unknown)}; the box has {', '.join(store_sections())}")
    return Said("data", text or "Please send a fresh report.", sections=args.sections, last_s=last)


def store_sections() -> tuple[str, ...]:
    from agent.contract import SECTION_NAMES

    return tuple(SECTION_NAMES)


def chase(store: CaseStore, args) -> int:
    from datetime import datetime

    now = datetime.fromisoformat(args.now).timestamp() if args.now else time.time()
    print("\n".join(store.chase(now)) or "nothing to chase")
    return 0


COMMANDS = {
    "list": list_cases,
    "show": show,
    "chase": chase,
    **{name: speak for name in ("ask", "request-photo", "request-data", "tell", "solve")},
}
