"""`diag-agent ocpp-log`: the firmware's side of the OCPP delegate (agent/channels/ocpp.py). It hands over a
CSMS's GetLog or GetDiagnostics, prints the OCPP response as one JSON line at once, then one JSON line per
status change until the request ends: what the firmware sends as LogStatusNotification."""

from __future__ import annotations

import json
import sys
import time

from agent.channels.ocpp import FINAL, LOG_TYPES, MAX_FILENAME, MAX_INTERVAL_S, MAX_RETRIES, VERSIONS


def add_parsers(sub, common, load_config) -> None:
    p = sub.add_parser("ocpp-log", parents=[common], help="for the firmware: answer an OCPP GetLog or GetDiagnostics")
    p.add_argument("--message", choices=("GetLog", "GetDiagnostics"), default="GetLog", help="default GetLog")
    p.add_argument(
        "--ocpp-version",
        choices=VERSIONS,
        help="the version on the charge point's wire: its status words (default 2.0.1; GetDiagnostics is 1.6)",
    )
    p.add_argument("--request-id", type=int, default=None, help="the CSMS's requestId (GetLog)")
    p.add_argument("--log-type", choices=LOG_TYPES, default="DiagnosticsLog", help="default DiagnosticsLog (GetLog)")
    p.add_argument("--location", required=True, help="remoteLocation (GetLog) or location (GetDiagnostics)")
    p.add_argument("--oldest", help="oldestTimestamp / startTime, ISO 8601")
    p.add_argument("--latest", help="latestTimestamp / stopTime, ISO 8601")
    p.add_argument("--retries", type=int, default=0, help=f"uploads tried again after a failure, 0-{MAX_RETRIES}")
    p.add_argument("--retry-interval", type=int, default=60, help=f"seconds between them, 0-{MAX_INTERVAL_S} (60)")
    p.add_argument(
        "--filename",
        help=f"upload under this name (the one the firmware already gave the CSMS): 1-{MAX_FILENAME} letters, "
        "digits, '.', '_', ':', '+' or '-'",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="print the status words alone, one a line (EVerest's diagnostics_uploader.sh contract)",
    )
    p.add_argument(
        "--wait", type=float, default=900.0, help="give up following the request after this many seconds (900)"
    )
    p.set_defaults(func=lambda args: cmd_ocpp_log(args, load_config(args.config)))


def cmd_ocpp_log(args, cfg) -> int:
    from agent.cli.ask import ask

    fields = {
        k: v
        for k, v in {
            "message": args.message,
            "request_id": args.request_id,
            "log_type": args.log_type,
            "location": args.location,
            "oldest": args.oldest,
            "latest": args.latest,
            "retries": args.retries,
            "retry_interval": args.retry_interval,
            "filename": args.filename,
            "ocpp_version": args.ocpp_version,
        }.items()
        if v is not None
    }
    before = ask(cfg, "ocpp_status", {})
    answer = ask(cfg, "ocpp_log", fields) if before is not None else None
    if before is None or answer is None:
        print(json.dumps({"status": "Rejected", "reason": "the diag-agent daemon is not running"}), flush=True)
        return 1
    since = before["next"]
    answer.pop("ok", None)
    if not args.plain:
        print(json.dumps(answer), flush=True)
    if answer.get("status") == "Rejected":
        if args.plain:
            print("BadMessage", flush=True)
        return 1
    # The request is followed by its ticket: two GetDiagnostics (no request id on the wire) are two requests.
    ticket = answer.get("ticket")
    rid = fields.get("request_id", 0)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        got = ask(cfg, "ocpp_status", {"since": since})
        if got is None:  # the daemon stopped while the upload was under way: the CSMS hears a failure
            print(
                "UploadFailed"
                if args.plain
                else json.dumps({"request_id": rid, "status": "UploadFailed", "info": "the diag-agent daemon stopped"}),
                flush=True,
            )
            return 1
        events, since = got["events"], got["next"]
        for event in (e for e in events if e.get("ticket", e["request_id"]) == (ticket or rid)):
            print(event["status"] if args.plain else json.dumps(event), flush=True)
            if event["status"] in FINAL:
                return 0 if event["status"] == "Uploaded" else 1
        time.sleep(0.2)
    print("diag-agent: the request did not end in time; the daemon goes on with it", file=sys.stderr)
    return 3
