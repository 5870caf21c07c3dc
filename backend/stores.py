"""Where a worker and support's command line find their cases: a store folder, its intake.json (the database and
the helpdesk that `serve` wrote there), and the CaseStore over them with its helpdesk seam."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent.contract import SECTION_NAMES
from backend.helpdesk.desk import Desk, NoDesk
from backend.rules.cases import CaseStore

STORE_CONFIG = "intake.json"  # written by `serve`: the database and the helpdesk of this store
AUTH_ENV = "DIAG_HELPDESK_TOKEN"  # the helpdesk account's API token (never an argument)


class Refused(Exception):
    """What the command line cannot do, said for the person at it (exit 2)."""


def open_store(folder: Path, config: dict | None = None, on_change=lambda case: None) -> CaseStore:
    if config is None:
        path = folder / STORE_CONFIG
        if not path.is_file():
            raise Refused(
                f"{folder} is not an intake's store (no {STORE_CONFIG}); "
                f"start one: support_intake.py serve --store {folder} ..."
            )
        config = json.loads(path.read_text())
    desk: Desk = NoDesk()
    if config.get("helpdesk"):
        from backend.helpdesk.connector import DjangoDesk

        desk = DjangoDesk(config["helpdesk"]["url"], config["helpdesk"]["queue"], os.environ.get(AUTH_ENV, ""))

    return CaseStore(
        folder,
        on_change=on_change,
        db=config["db"],
        desk=desk,
        zone=config.get("zone", "Europe/Berlin"),
        chase_days=config.get("chase_days", 3),
        sections=tuple(SECTION_NAMES),
    )
