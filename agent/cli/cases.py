"""The command line of the case conversation: `cases`, `answer`, `retry` (agent/cli.py wires them)."""

from __future__ import annotations

import json
import sys

from agent.cli.ask import ask
from agent.cli.exits import EXIT_FAIL, EXIT_OK
from agent.cli.views import render_cases


def add_parsers(sub, common, load_config) -> None:
    from agent.fields import ANSWER_CHARS

    p = sub.add_parser("cases", parents=[common], help="the box's reports and cases, and support's open questions")
    p.add_argument("--json", action="store_true", help="the cases as JSON")
    p = sub.add_parser("answer", parents=[common], help="answer support's question on a case")
    p.add_argument("case", help="the case number, as `cases` shows it (e.g. CASE-000123)")
    p.add_argument("question", help="the question's id, as `cases` shows it (e.g. Q3)")
    p.add_argument("text", help="the answer, {}-{} characters (secrets are scrubbed)".format(*ANSWER_CHARS))
    p.add_argument("--with-report", action="store_true", help="send a fresh report to the case with the answer")
    p = sub.add_parser("retry", parents=[common], help="send a refused report again (after the settings changed)")
    p.add_argument("report_id", help="a refused report's id, as `status` and `cases` show it")
    for name in ("cases", "answer", "retry"):
        sub.choices[name].set_defaults(func=lambda args: cmd_case(args, load_config(args.config)))


def cmd_case(args, cfg) -> int:
    fields = {
        "cases": {},
        "retry": {"report_id": getattr(args, "report_id", None)},
        "answer": {k: getattr(args, k, None) for k in ("case", "question", "text", "with_report")},
    }[args.command]
    answer = ask(cfg, args.command, fields, timeout=60)
    if answer is None:
        if args.command != "cases":
            print("diag-agent: the daemon is not running; start it, then try again", file=sys.stderr)
            return EXIT_FAIL
        answer = {"ok": True, **_offline_view(cfg)}
    if not answer.get("ok"):
        print(f"diag-agent: {answer.get('error')}", file=sys.stderr)
        return EXIT_FAIL
    if args.command == "cases":
        print(json.dumps(answer, indent=2) if args.json else render_cases(answer))
    elif args.command == "answer":
        print(
            f"answer {answer['answer']} saved; it goes to the case with the next delivery"
            + (f", with report {answer['report']}" if answer.get("report") else "")
        )
    else:
        print(f"report {answer['report']['report_id']}: {answer['report']['note']}")
    return EXIT_OK


def _offline_view(cfg) -> dict:
    """What the box knows of its cases while the daemon is stopped: its outbox and the saved states."""
    from agent.cases.book import CaseBook
    from agent.cases.view import case_view
    from agent.outbox import Outbox
    from agent.paths import outbox_dir

    return case_view(cfg, Outbox(outbox_dir(cfg)), CaseBook(cfg.state_dir, cfg.support.max_cases))
