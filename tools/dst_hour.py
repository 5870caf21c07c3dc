#!/usr/bin/env python3
"""How often a 5 s job runs in the hour after summer time ends in Europe/Berlin (2026-10-25 01:00 UTC, when
03:00 local becomes 02:00): on `schedule`, the main loop's scheduler before, and on agent/service/jobs.py.

    .venv/bin/python scripts/dst_hour.py      # prints {"schedule": N, "jobs": M}

Both run on the same fake clock, in half-second steps from 00:30 to 02:00 UTC; `schedule` reads naive local
time (datetime.now), the Jobs the monotonic clock. The runs counted are those from 01:00 to 02:00 UTC.
"""

import datetime as dt
import json
import os
import time

os.environ["TZ"] = "Europe/Berlin"
time.tzset()

import schedule  # noqa: E402  (after TZ is set: it reads the zone when imported)

from agent.service.jobs import Jobs  # noqa: E402

START, CHANGE, END = (dt.datetime(2026, 10, 25, h, m, tzinfo=dt.UTC).timestamp() for h, m in ((0, 30), (1, 0), (2, 0)))
now = [START]


class FakeDatetime(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return dt.datetime.fromtimestamp(now[0], tz)  # naive local time, as schedule reads it


schedule.datetime.datetime = FakeDatetime  # type: ignore[misc]  # the clock schedule reads, faked
runs = {"schedule": 0, "jobs": 0}


def counted(name):
    def job():
        runs[name] += now[0] >= CHANGE

    return job


old = schedule.Scheduler()
old.every(5).seconds.do(counted("schedule"))
new = Jobs(clock=lambda: now[0] - START)
new.every(5, "poll", counted("jobs"))
while now[0] < END:
    old.run_pending()
    new.run_pending()
    now[0] += 0.5
print(json.dumps(runs))
