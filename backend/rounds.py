"""A worker's timed rounds: publish changed cases, read the helpdesk's tickets, chase."""

from __future__ import annotations

import logging
import threading
import time

from backend.rules import Rejected
from backend.rules.cases import CaseStore

log = logging.getLogger("intake")


class Rounds:
    """A worker's rounds: every SYNC_S it publishes the cases that changed since it last looked (whoever
    changed them: another worker, the support command line); every POLL_S it reads the tickets of open
    cases from the helpdesk (a webhook's hint reads one at once); every CHASE_EVERY_S it chases."""

    def __init__(self, store: CaseStore, publishers: list, args):
        self.store = store
        self.publishers = publishers
        self.args = args
        self.published: dict[str, int] = {}
        self._hints: set[str] = set()
        self._wake = threading.Event()

    def hint(self, number: str) -> None:
        self._hints.add(number)
        self._wake.set()

    def run(self) -> None:
        last_poll = last_chase = time.monotonic()
        with self.store.db.tx() as t:  # what is there now the MQTT side publishes when it connects
            self.published = t.versions()
        while True:
            self._wake.wait(self.args.sync_s)
            self._wake.clear()
            now = time.monotonic()
            try:
                polling = now - last_poll >= self.args.poll_s
                numbers = self._open_cases() if polling else set()
                last_poll = now if polling else last_poll
                for number in numbers | {self._hints.pop() for _ in range(len(self._hints))}:
                    try:
                        self.store.sync_case(number)
                    except Rejected:  # a ticket staff opened themselves: not a box's case
                        log.debug("a helpdesk event for %s, which is no case of a box", number)
                if now - last_chase >= self.args.chase_every_s:
                    last_chase = now
                    for line in self.store.chase():
                        log.info("chase: %s", line)
                self._publish_changed()
            except Exception as exc:  # the database or the helpdesk away for a moment: the next round tries
                log.warning("a round of the intake failed: %s", exc)

    def _open_cases(self) -> set[str]:
        if not self.args.helpdesk:
            return set()
        # Staff may reopen a solved ticket: those solved in the last 30 days are read too.
        recent = time.time() - 30 * 86400
        return {c["case"] for c in self.store.cases if c["state"] != "solved" or c["articles"][-1]["at"] > recent}

    def _publish_changed(self) -> None:
        if not self.publishers:
            return
        with self.store.db.tx() as t:
            versions = t.versions()
        for number, version in versions.items():
            if self.published.get(number) != version:
                case = self.store.get(number)
                for publish in self.publishers:
                    publish(case)
                self.published[number] = version
