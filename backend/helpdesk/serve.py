#!/usr/bin/env python3
"""Runs the django-helpdesk site support works in (for the tests, the demo and the bench): migrates its
database, makes the wallbox queue, the intake's API account and a support person's account, and serves it
with waitress on a free loopback port. Prints one JSON line when it serves: {"pid", "port", "url"}.

    helpdesk_serve.py --dir DIR [--db postgresql://...] [--port 0] [--webhook URL] [--migrate-only]

Secrets come from the environment (never arguments): DIAG_HELPDESK_INTAKE_TOKEN, the API token of the
account `intake`; DIAG_HELPDESK_SUPPORT_TOKEN and DIAG_HELPDESK_SUPPORT_PASSWORD, the API token and the
login of the account `support` (a person at the helpdesk's pages)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUEUE = {"slug": "wallbox", "title": "Wallboxes"}
ACCOUNTS = {"intake": "DIAG_HELPDESK_INTAKE", "support": "DIAG_HELPDESK_SUPPORT"}  # + _TOKEN, _PASSWORD


def prepare(args) -> None:
    os.environ["HELPDESK_SITE_DIR"] = str(Path(args.dir).resolve())
    if args.db:
        os.environ["HELPDESK_SITE_DB"] = args.db
    if args.webhook:  # django-helpdesk reads these itself: staff follow-ups and new tickets, at once
        os.environ["HELPDESK_FOLLOWUP_WEBHOOK_URLS"] = args.webhook
        os.environ["HELPDESK_NEW_TICKET_WEBHOOK_URLS"] = args.webhook
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.helpdesk.site.settings")
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from helpdesk.models import Queue
    from rest_framework.authtoken.models import Token

    Queue.objects.get_or_create(
        slug=QUEUE["slug"], defaults={"title": QUEUE["title"], "allow_public_submission": False}
    )
    users = get_user_model()
    for name, env in ACCOUNTS.items():
        user, _ = users.objects.get_or_create(username=name, defaults={"is_staff": True, "first_name": name.title()})
        user.is_staff = True
        user.set_password(os.environ.get(f"{env}_PASSWORD") or os.urandom(16).hex())  # none given: no login
        user.save()
        Token.objects.filter(user=user).delete()
        if os.environ.get(f"{env}_TOKEN"):
            Token.objects.create(user=user, key=os.environ[f"{env}_TOKEN"][:40])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="the site's folder: media (attachments), SQLite by default")
    ap.add_argument("--db", help="postgresql://... (default: SQLite in --dir)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--webhook", help="the intake's address for django-helpdesk's webhooks")
    ap.add_argument("--migrate-only", action="store_true", help="make the tables and accounts, then exit")
    args = ap.parse_args(argv)
    prepare(args)
    if args.migrate_only:
        return 0
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    server = create_server(get_wsgi_application(), host=args.host, port=args.port, threads=4)
    port = int(server.effective_port)
    print(json.dumps({"pid": os.getpid(), "port": port, "url": f"http://{args.host}:{port}/"}), flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
