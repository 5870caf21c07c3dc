"""`python -m backend serve|list|show|ask|...`: a worker of support's backend (backend/serve.py), or support's
command line (backend/cli.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from backend.cli import add_commands, run_command
from backend.serve import serve


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--store", required=True, help="the folder of bundles and photos, shared by the workers")
    s.add_argument("--db", help="postgresql://... for workers that scale out (default: SQLite in the store)")
    s.add_argument("--helpdesk", help="the django-helpdesk site's URL; its API token from DIAG_HELPDESK_TOKEN")
    s.add_argument("--helpdesk-queue", default="wallbox", help="the slug of the helpdesk queue cases go into")
    s.add_argument("--zone", default="Europe/Berlin", help="support's time zone, for the service times")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--client-ca", help="require client certificates signed by this CA (mutual TLS)")
    s.add_argument("--mqtt-host")
    s.add_argument("--mqtt-port", type=int, default=1883)
    s.add_argument("--mqtt-protocol", choices=("5", "3.1.1"), default="5")
    s.add_argument("--mqtt-share", help="take reports from the shared subscription $share/GROUP/...")
    s.add_argument("--topic-prefix", default="diag-agent")
    s.add_argument("--smtp-port", type=int, help="take bundles mailed to this port (0: any free one)")
    s.add_argument(
        "--chase-days",
        type=int,
        default=3,
        help="working days a question waits before a reminder, and as many more before the case closes",
    )
    s.add_argument("--chase-every-s", type=float, default=3600.0)
    s.add_argument("--sync-s", type=float, default=1.0, help="how often changed cases are published")
    s.add_argument("--poll-s", type=float, default=60.0, help="how often open tickets are read (webhooks: at once)")
    s.add_argument("--refuse", type=int, default=0, help="refuse the first N uploads (for tests)")
    s.add_argument("--refuse-status", type=int, default=503)
    s.add_argument("--retry-after", help="Retry-After header on refused uploads")
    s.add_argument(
        "--release",
        action="append",
        metavar="CHANNEL=VERSION",
        help="the newest version of a channel, served at /api/v1/releases/CHANNEL (default stable=2.4.1); "
        "CHANNEL=VERSION:NOTES adds what the update changes",
    )
    add_commands(sub)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="intake: %(message)s", stream=sys.stderr)
    if args.cmd == "serve":
        return serve(args)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
