"""Where the fault is: the supply, the car, the box, the network or the backend, and the evidence it rests on.

Nothing is judged here. The rule table (watch/rules.py) names each fault's place; the faults are the ones the
monitor raised (so a flicker that never held is no verdict); the backend's share is read from the judge's
verdicts on the agent's own links. The words are chosen later (watch/explain.py), in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.vocab import Place, Status
from agent.watch.judge.verdict import Judgement

# The first place explains the later ones: a lost phase stops charging, a dead network silences the backend.
ORDER = (Place.SUPPLY, Place.CAR, Place.BOX, Place.NETWORK, Place.BACKEND)


@dataclass(frozen=True)
class Finding:
    place: Place
    code: str  # a fault code, or the link whose verdict it is (broker, outbox)
    subject: str  # the device, the hook, or "box"
    fill: dict = field(default_factory=dict)  # the judgement's values, for the evidence in words

    def to_dict(self) -> dict:
        return {"place": self.place, "code": self.code, "subject": self.subject, "fill": dict(self.fill)}


def locate(faults: Iterable[Mapping], judgements: Iterable[Judgement]) -> list[Finding]:
    """Every place a fault points at, the most likely cause first; [] when nothing is wrong anywhere."""
    from agent.watch.rules import RULES

    found = []
    for f in faults:
        rule = RULES.get(f["code"])
        place = rule.place if rule else Place.BOX  # a fault the firmware announces itself is the box's
        if place is not None:
            found.append(Finding(place, f["code"], f["device"], dict(f.get("fill") or {})))
    judged = list(judgements)
    network_works = any(j.topic == "network" and j.status is Status.PASS for j in judged)
    for j in judged:
        # The broker silent while the network works, or the backend refusing reports: the far end.
        if j.topic == "broker" and j.status >= Status.WARN and network_works:
            found.append(Finding(Place.BACKEND, "broker", "box", {"detail": j.detail}))
        if j.topic == "outbox" and j.variant == "refused":
            found.append(Finding(Place.BACKEND, "outbox", "box", dict(j.fill)))
    return sorted(found, key=lambda f: ORDER.index(f.place))
