"""The one judgement of every value and condition: pass, warn, fail or no data (agent/vocab.py Status).

The fault rules (watch/rules.py) raise a fault where a judgement names one and holds; the self-check
(watch/checks.py), the page and report.html show the same judgements. No data is never a pass: a meter
that does not answer leaves the mains supply unjudged, and says so.

One module a subject: devices (answers, the mains, charging), the box (storage, heat, power, memory,
clock, network, software) and the agent's links (backend, broker, hooks, firmware, the outbox).
"""

from agent.watch.judge.box import judge_health, network_verdict, software_verdict
from agent.watch.judge.devices import judge_devices, judge_scan
from agent.watch.judge.links import Links, judge_firmware, judge_hooks, judge_links
from agent.watch.judge.locate import Finding, locate
from agent.watch.judge.verdict import Judgement, fault_status, shown_status, worst

__all__ = [
    "fault_status",
    "shown_status",
    "Finding",
    "Judgement",
    "Links",
    "judge_devices",
    "judge_firmware",
    "judge_health",
    "judge_hooks",
    "judge_links",
    "judge_scan",
    "locate",
    "network_verdict",
    "software_verdict",
    "worst",
]
