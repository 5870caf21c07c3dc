"""Stateful property tests of the outbox with its sender and pacing, through a fake transport at the sender's seam:
reports spooled, attempted, failed with and without Retry-After, delivered, evicted by the quota (also while an
upload is under way), the clock stepped back. Whatever the order, no report is lost, none comes back after the quota
evicted it, none is delivered twice, and every report the outbox shows has its bundle."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from agent.config.sections import BackendConfig
from agent.outbox import Entry, Outbox
from agent.outbox.quota import enforce_quota
from agent.transports.base import DeliveryError, Receipt
from agent.transports.sender import Sender

PRIORITIES = ("low", "medium", "high")


class FakeBackend:
    """The sender's Transport seam: answers as the machine says; DURING runs while an upload is under way."""

    name = "fake"

    def __init__(self):
        self.outcome = "deliver"  # or "fail", "retry_after", "final"
        self.during = None
        self.received: list[str] = []

    def ready(self) -> bool:
        return True

    def send(self, report_id: str, bundle) -> Receipt:
        if self.during:
            self.during()
        if self.outcome == "fail":
            raise DeliveryError("the backend is down")
        if self.outcome == "retry_after":
            raise DeliveryError("the backend sheds load", retry_after=120.0)
        if self.outcome == "final":
            raise DeliveryError("the backend refuses it", final=True)
        self.received.append(report_id)
        return Receipt(report_id=report_id, case=f"CASE-{len(self.received):06d}", priority="low")


class OutboxMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        import tempfile

        self.folder = tempfile.mkdtemp(prefix="outbox-machine-")
        self.now = [1_800_000_000.0]
        self.outbox = Outbox(self.folder, clock=lambda: self.now[0])
        self.backend = FakeBackend()
        config = BackendConfig(url="https://backend.invalid/api/v1/reports", retry_base_s=1.0, retry_max_s=60.0)
        self.sender = Sender(config, self.outbox, [self.backend], clock=lambda: self.now[0], rng=lambda: 0.5)
        self.spooled: set[str] = set()
        self.evicted: set[str] = set()
        self.n = 0

    def _spool(self, priority: str) -> str:
        self.n += 1
        rid = f"20270101T000000Z-{self.n:08x}"
        entry = Entry(report_id=rid, priority=priority, on_site=False, created=self.now[0])
        self.outbox.spool(entry, lambda f: f.write(b"bundle of " + rid.encode()))
        self.spooled.add(rid)
        return rid

    def _evict(self, keep: int) -> None:
        self.evicted |= {e.report_id for e in enforce_quota(self.outbox, 1 << 30, keep)}

    @rule(priority=st.sampled_from(PRIORITIES))
    def spool(self, priority):
        self._spool(priority)

    @rule(outcome=st.sampled_from(("deliver", "fail", "retry_after", "final")))
    def drain(self, outcome):
        self.backend.outcome, self.backend.during = outcome, None
        self.sender.drain()

    @precondition(lambda self: self.outbox.pending())
    @rule(outcome=st.sampled_from(("deliver", "fail", "retry_after")), keep=st.integers(0, 3))
    def evict_while_uploading(self, outcome, keep):
        """A new report arrives while an upload is under way, and the quota makes room for it."""
        self.backend.outcome = outcome

        def during():
            self.backend.during = None
            self._spool("low")
            self._evict(keep)

        self.backend.during = during
        self.now[0] += 3600  # every wait is over: the first pending report is attempted
        self.sender.drain()

    @rule(keep=st.integers(0, 5))
    def quota(self, keep):
        self._evict(keep)

    @rule(seconds=st.sampled_from((-3600.0, -5.0, 1.0, 30.0, 600.0, 7200.0)))
    def clock(self, seconds):
        self.now[0] += seconds

    @invariant()
    def nothing_comes_back_and_nothing_is_lost(self):
        if not hasattr(self, "outbox"):
            return
        on_disk = {e.report_id for e in self.outbox.entries()}
        assert not on_disk & self.evicted, f"evicted and back: {sorted(on_disk & self.evicted)}"
        assert self.spooled == on_disk | self.evicted, f"lost: {sorted(self.spooled - on_disk - self.evicted)}"

    @invariant()
    def every_report_shown_has_its_bundle(self):
        if not hasattr(self, "outbox"):
            return
        for e in self.outbox.entries():
            assert self.outbox.bundle_path(e.report_id).exists(), f"{e.report_id} ({e.state}) has no bundle"
            assert not e.damaged, f"{e.report_id} damaged: {e.last_error}"

    @invariant()
    def delivered_once(self):
        if hasattr(self, "backend"):
            assert len(self.backend.received) == len(set(self.backend.received))

    @invariant()
    def a_clock_gone_back_never_holds_a_report_longer(self):
        if not hasattr(self, "outbox"):
            return
        now = self.now[0]
        for e in self.outbox.pending():
            assert self.sender.pace.due_at(e, now) <= now + 6 * 3600 + 60, e

    def teardown(self):
        import shutil

        if hasattr(self, "folder"):
            shutil.rmtree(self.folder, ignore_errors=True)


OutboxMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestOutbox = OutboxMachine.TestCase
