"""The diag-agent command line. Exit codes: 0 done, 1 failed, 2 bad configuration or usage, 3 queued."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from agent import __version__
from agent.cli.ask import ask
from agent.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_QUEUED, say_exit_codes
from agent.cli.views import render_inspection, render_status
from agent.config import DEFAULT_PATH, ConfigError, load


def setup_logging(level: str = "info", secrets=None) -> None:
    """One line per event on stderr, scrubbed of the configured secrets."""
    from agent.redact import SecretFilter

    # journald stamps each line itself; elsewhere a time helps.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    from agent.service.logring import UtcFormatter

    logging.basicConfig(level=getattr(logging, level.upper()), format=fmt, stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(UtcFormatter(fmt))
        handler.addFilter(SecretFilter(secrets or []))


def _config(args):
    return load(args.config)


def cmd_check_config(args) -> int:
    args.path = args.path or args.config  # `check-config FILE` or `check-config --config FILE`
    cfg = load(args.path)
    from agent.devices.poller import open_buses

    open_buses(cfg)  # every profile named must load too
    from agent.transports.sender import delivery_warnings

    for warning in delivery_warnings(cfg):  # loads and runs, but something will not work as the installer expects
        print(f"diag-agent: warning: {args.path}: {warning}", file=sys.stderr)
    print(f"{args.path}: OK ({len(cfg.buses)} buses, {len(cfg.devices)} devices)")
    return EXIT_OK


def cmd_run(args) -> int:
    cfg = _config(args)
    from agent.redact import Secrets
    from agent.service.daemon import Daemon

    secrets = Secrets(cfg.secrets())  # the log on stderr learns what the hooks declare, like every output
    setup_logging(cfg.log_level, secrets)
    return Daemon(cfg, secrets=secrets).run()


def cmd_poll(args) -> int:
    from agent.collect.once import poll_once

    devices = poll_once(_config(args))
    if args.json:
        print(json.dumps({name: d.to_dict() for name, d in devices.items()}, indent=2))
    else:
        for name, dev in devices.items():
            state = "ok" if dev.reachable else f"NOT ANSWERING ({dev.answer})"
            print(f"{name} ({dev.model}, unit {dev.unit}): {state}")
            for vname, v in dev.values.items():
                label = f" ({v.label})" if v.label is not None else ""
                print(f"  {vname:<24} {v.value} {v.unit}{label}")
            for vname, why in dev.unsupported.items():
                print(f"  {vname:<24} {why}")
    failed = [d for d in devices.values() if not d.reachable]
    for dev in failed:
        print(f"diag-agent: device {dev.name} did not answer: {dev.last_error}", file=sys.stderr)
    return EXIT_FAIL if failed else EXIT_OK


def _request_fields(args) -> dict:
    return {
        "subject": args.subject,
        "description": args.description,
        "email": args.email,
        "case_ref": args.case,
        "on_site": args.on_site,
    }


def cmd_report(args) -> int:
    cfg = _config(args)
    import uuid

    from agent.channels import control
    from agent.request import RequestError, check_request

    # This run's own id: if the daemon takes the request and then goes away, it is never made twice.
    fields = dict(_request_fields(args), request_id=uuid.uuid4().hex)
    try:  # the one validator: the CLI refuses what the page refuses, in the same words
        request = check_request(fields, reason="cli")
    except RequestError as exc:
        from agent.lang import told

        not_made = told(cfg.language, "report_not_made", fallback="report not made")
        for name, problem in exc.in_words(cfg.language).items():
            option = "--" + name.replace("_ref", "") + ": " if name != "_" else ""
            print(f"diag-agent: {not_made}: {option}{problem}", file=sys.stderr)
        return EXIT_CONFIG
    wait = cfg.report.wait_for_case_s
    try:
        if args.out:
            answer = ask(cfg, "report", dict(fields, out=True), timeout=120)
        else:
            answer = ask(cfg, "report", dict(fields, wait_s=wait), timeout=wait + 30)
    except control.NoAnswer as exc:  # it may have been accepted: never build a second one here
        print(
            f"diag-agent: {exc}. The report may have been accepted; `diag-agent status` shows the outbox "
            "once the daemon is back. Nothing else was made.",
            file=sys.stderr,
        )
        return EXIT_FAIL
    if answer is not None and not answer.get("ok"):
        print(f"diag-agent: report not made: {answer.get('error')}", file=sys.stderr)
        return EXIT_FAIL
    if args.out:
        return _write_bundle(cfg, request, answer, args.out)
    if answer is None:  # no daemon: this process builds the report and tries to send it once
        answer = _report_standalone(cfg, request)
    if answer.get("receipt"):
        receipt = answer["receipt"]
        how = "added to case" if receipt.get("attached") else "delivered: case"
        print(f"report {answer['report_id']} {how} {receipt['case']} ({receipt['priority']} priority)")
        return EXIT_OK
    if answer.get("state") == "refused":  # kept on the box, but not sent again until the settings change
        print(f"report {answer['report_id']} was {answer['note']}.")
        return EXIT_QUEUED
    # No error yet: not tried, or still on its way when the wait (report.wait_for_case_s) ended.
    why = answer.get("error") or "it is on its way; `diag-agent cases` shows its case once it has one"
    print(
        f"report {answer['report_id']} is saved in the outbox and not delivered yet: {why}. "
        "The daemon sends it when the backend can be reached."
    )
    return EXIT_QUEUED


def look_once(cfg, scan: bool = False):
    """No daemon runs: the box looked at once (devices read, health collected) and judged, as the daemon's
    StatusModel.look does."""
    from agent.collect.once import one_shot
    from agent.watch.checks import judged
    from agent.watch.faults import held_now

    box = one_shot(cfg, scan)
    return judged(cfg, box.but(faults=held_now(cfg, box)))


def _report_standalone(cfg, request) -> dict:
    """No daemon runs: read the devices once, spool the report, and try to send it now (HTTPS only)."""
    from agent.outbox import describe
    from agent.report.build import make_report
    from agent.transports.sender import delivery

    sender = delivery(cfg)  # the daemon's wiring, without MQTT (that link is the daemon's)
    entry = sender.attempt(make_report(cfg, request, look_once(cfg), sender.outbox))  # no daemon: no fault history
    return dict(describe(entry), receipt=entry.receipt)


def _write_bundle(cfg, request, answer: dict | None, out: str) -> int:
    """--out: the running daemon's bundle (with its faults, history and timeline), else a one-shot one."""
    import base64

    if answer is not None:
        report_id, data = answer["report_id"], base64.b64decode(answer["bundle"])
    else:
        from agent.report.build import export_report

        report_id, data = export_report(cfg, request, look_once(cfg))
    with open(out, "wb") as f:
        f.write(data)
    source = "from the running daemon" if answer is not None else "no daemon runs: devices read once"
    print(f"report {report_id} written to {out} ({len(data)} bytes, not sent; {source})")
    return EXIT_OK


def cmd_inspect(args) -> int:
    from agent.report.bundle import BundleError, read_bundle

    try:
        with open(args.bundle, "rb") as f:
            manifest, members = read_bundle(f.read())
        summary = json.loads(members["summary.json"]) if "summary.json" in members else {}
    except OSError as exc:
        print(f"diag-agent: cannot read {args.bundle}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAIL
    except (BundleError, ValueError) as exc:
        print(f"diag-agent: {args.bundle} is damaged: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(render_inspection(manifest, summary))
    if args.html:
        if "report.html" not in members:
            print("diag-agent: this bundle has no report.html", file=sys.stderr)
            return EXIT_FAIL
        with open(args.html, "wb") as f:
            f.write(members["report.html"])
        print(f"report.html written to {args.html}")
    return EXIT_OK


def cmd_check(args) -> int:
    cfg = _config(args)
    from agent.watch import checks
    from agent.watch.explain import where_lines

    answer = ask(cfg, "check", timeout=cfg.hooks.deadline_s + 30) or _checked_here(cfg)
    if args.json:
        print(json.dumps({k: answer[k] for k in ("result", "counts", "checks", "where")}, indent=2, ensure_ascii=False))
    else:
        print("\n".join(where_lines(answer.get("where", []), cfg.language)))
        print(checks.render([checks.Check(**c) for c in answer["checks"]], cfg.language))
    return EXIT_FAIL if answer["result"] == "fail" else EXIT_OK


def _checked_here(cfg) -> dict:
    """No daemon runs: the self-check of one look, scrubbed of every secret it knows (a hook's stderr is in it)."""
    from agent.health.hooks import declared_secrets
    from agent.redact import Secrets
    from agent.watch import checks

    box = look_once(cfg, scan=True)
    secrets = Secrets(cfg.secrets())
    secrets.add(declared_secrets(box.health.get("hooks") or {}))
    return secrets.strings(checks.answer(box), "check")


def cmd_page_link(args) -> int:
    """The page's link for the installer at the box: with its key (web.token) when it is served on the LAN."""
    web = _config(args).web
    host = f"[{web.host}]" if ":" in web.host else web.host
    print(f"http://{host}:{web.port}/" + (f"?token={web.token}" if web.token else ""))
    return EXIT_OK


def cmd_event(args) -> int:
    cfg = _config(args)
    from agent.channels.events import check_event, queue_event

    fields = {
        "type": args.type,
        "code": args.code,
        "message": args.message,
        "severity": args.severity,
        "category": args.category,
        "version": args.version,
    }
    try:
        event = check_event({k: v for k, v in fields.items() if v is not None})
    except ValueError as exc:
        print(f"diag-agent: event not taken: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    answer = ask(cfg, "event", event)
    if answer is None:
        queue_event(cfg.state_dir, event)
        print("the daemon is not running: event queued; it is taken in when the daemon starts")
        return EXIT_QUEUED
    if not answer.get("ok"):
        print(f"diag-agent: event not taken: {answer.get('error')}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def cmd_onsite(args) -> int:
    cfg = _config(args)
    answer = ask(cfg, "onsite", {"action": args.action})
    if answer is not None and not answer.get("ok"):
        print(f"diag-agent: {answer.get('error')}", file=sys.stderr)
        return EXIT_FAIL
    if answer is not None:
        state = answer["onsite"]
    else:  # no daemon: the state file is the on-site mode, changed here as the daemon would
        from agent.onsite import OnSite
        from agent.watch.timeline import Timeline

        Path(cfg.state_dir).mkdir(parents=True, exist_ok=True)
        onsite = OnSite(cfg.state_dir, cfg.onsite.duration_s, Timeline())
        if args.action != "status":
            try:
                onsite.set(args.action == "on", "cli")
            except ValueError as exc:
                print(f"diag-agent: {exc}", file=sys.stderr)
                return EXIT_FAIL
        state = onsite.to_dict()
    if state["on"]:
        print(f"on-site mode is ON (by {state['channel']}), ends in {state['remaining_s'] // 60} min")
    else:
        print("on-site mode is off")
    return EXIT_OK


def cmd_status(args) -> int:
    cfg = _config(args)
    status = ask(cfg, "status")
    if status is None:
        print("diag-agent: the daemon is not running", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(render_status(status, cfg.language, cfg.timezone))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # None here: a --config given before the command (`diag-agent --config F status`) counts too (main()).
    common.add_argument("--config", default=None, help=f"configuration file (default {DEFAULT_PATH})")
    ap = argparse.ArgumentParser(prog="diag-agent", description="Diagnostics and system reports for EV wallboxes.")
    ap.add_argument("--version", action="version", version=f"diag-agent {__version__}")
    ap.add_argument("--config", dest="config_first", default=None, help="configuration file, for every command")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _daemon_commands(sub, common)
    _report_commands(sub, common)
    _firmware_commands(sub, common)
    from agent.cli import cases as cli_cases
    from agent.cli import ocpp as cli_ocpp
    from agent.cli import scan as cli_scan

    cli_cases.add_parsers(sub, common, load)
    cli_ocpp.add_parsers(sub, common, load)
    cli_scan.add_parsers(sub, common, load)
    say_exit_codes(sub)
    return ap


def _chars(limits: tuple[int, int]) -> str:
    return f"{limits[0]}-{limits[1]} characters"


def _daemon_commands(sub, common) -> None:
    """The daemon, its configuration, what it reads and its state."""
    p = sub.add_parser("run", parents=[common], help="run the daemon")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("check-config", parents=[common], help="validate a configuration file")
    p.add_argument("path", nargs="?", help="the configuration file (or --config); a wrong one names its line and key")
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("poll", parents=[common], help="read every configured device once")
    p.add_argument("--once", action="store_true", required=True, help="one cycle, then exit (required)")
    p.add_argument("--json", action="store_true", help="the readings as JSON")
    p.set_defaults(func=cmd_poll)
    p = sub.add_parser("check", parents=[common], help="the self-check list with hints; exit 1 when a check fails")
    p.add_argument("--json", action="store_true", help="the checks as JSON")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("page-link", parents=[common], help="the local page's address, with its key when it has one")
    p.set_defaults(func=cmd_page_link)
    p = sub.add_parser("status", parents=[common], help="the running daemon's state")
    p.add_argument("--json", action="store_true", help="the state as JSON")
    p.set_defaults(func=cmd_status)


def _report_commands(sub, common) -> None:
    """A report made and sent, a bundle read, on-site mode."""
    from agent.request import LIMITS

    p = sub.add_parser("report", parents=[common], help="make a system report and send it")
    p.add_argument("--subject", default="", help=f"what is wrong, in a few words ({_chars(LIMITS['subject'])})")
    p.add_argument(
        "--description", default="", help=f"what happens, when, since when ({_chars(LIMITS['description'])})"
    )
    p.add_argument("--email", default="", help=f"the address support answers (required, {_chars(LIMITS['email'])})")
    p.add_argument("--case", help=f"the case this report belongs to, e.g. CASE-000123 ({_chars(LIMITS['case_ref'])})")
    p.add_argument("--on-site", action="store_true", help="an installer is at the box: high priority")
    p.add_argument("--out", help="write the bundle to this file and send nothing")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("inspect", parents=[common], help="verify a bundle and print its summary")
    p.add_argument("bundle", help="a report bundle (.tar.gz), from the box or from support")
    p.add_argument("--html", help="write the bundle's report.html to this file")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("onsite", parents=[common], help="on-site mode: every report high priority")
    p.add_argument("action", choices=("on", "off", "status"), help="on: for onsite.duration_s (4 h); off; status")
    p.set_defaults(func=cmd_onsite)


def _firmware_commands(sub, common) -> None:
    """What the firmware tells the agent."""
    from agent import fields

    p = sub.add_parser("event", parents=[common], help="for the firmware: raise or clear a fault, announce an update")
    p.add_argument("type", choices=("fault", "clear", "updated"), help="raise a fault, clear one, or a new firmware")
    p.add_argument("--code", help=f"fault code, {fields.EVENT_CODE_WORDS} (fault, clear)")
    p.add_argument("--message", help=f"what happened, {_chars(fields.FAULT_MESSAGE_CHARS)} (fault)")
    p.add_argument("--severity", help="info, warning, error (default) or critical (fault)")
    p.add_argument("--category", help="hardware (default), charging, communication, system or software (fault)")
    p.add_argument("--version", help=f"the new firmware version, {_chars(fields.FIRMWARE_VERSION_CHARS)} (updated)")
    p.set_defaults(func=cmd_event)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "config"):
        args.config = args.config or args.config_first or os.environ.get("DIAG_AGENT_CONFIG") or DEFAULT_PATH
    from agent.text import SafeStream

    sys.stdout = SafeStream(sys.stdout)  # what the CLI prints may hold text from outside: a box's, support's
    setup_logging("critical")  # one-shot commands say what happened in their own words; the daemon sets its level
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"diag-agent: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `diag-agent inspect X | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's own flush at exit stays quiet too
        return EXIT_OK
    except Exception as exc:  # the last line of defence: one clear line, never a traceback
        logging.getLogger("agent").debug("unexpected error", exc_info=True)
        print(f"diag-agent: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAIL
