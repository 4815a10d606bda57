"""A Quartz cron with seconds on a real server and worker: two runs 5 s apart, each started on its second.

The schedule is the translation doctor asks for (Quartz ``S,S+5 M H D MON ?`` in Europe/Berlin);
Prefect's scheduler creates the runs, the worker takes them up to 25 s early, and the on-time start
(``python -m nornflow.triggers.ontime``) holds each to its instant: the run's Running state (its
``start_time``) is at or after the scheduled second, and less than one second after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nornflow.triggers.quartz import parse

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_two_runs_start_on_their_seconds(stack):
    zone = ZoneInfo("Europe/Berlin")
    first = (datetime.now(zone) + timedelta(seconds=30)).replace(microsecond=0)
    if first.second > 54:  # both seconds in one minute
        first += timedelta(seconds=6)
    quartz = parse(f"{first.second},{first.second + 5} {first.minute} {first.hour} {first.day} {first.month} ?")
    spec = quartz.prefect("Europe/Berlin")
    assert "cron" in spec  # the croniter form Prefect's scheduler runs
    deployment = stack.deploy("on-the-second", [spec])

    runs = stack.finished_runs(deployment["id"], 2)
    wanted = [first.astimezone(UTC), (first + timedelta(seconds=5)).astimezone(UTC)]
    scheduled = sorted(_instant(r["expected_start_time"]) for r in stack.server.runs(deployment["id"])
                       if _instant(r["expected_start_time"]) < wanted[1] + timedelta(days=1))
    assert scheduled == wanted  # none skipped, none doubled
    for run in sorted(runs, key=lambda r: r["expected_start_time"]):
        late = (_instant(run["start_time"]) - _instant(run["expected_start_time"])).total_seconds()
        said = [line for line in stack.worker_log().splitlines() if "nornflow.ontime" in line]
        assert 0 <= late < 1.0, (run["name"], run["expected_start_time"], run["start_time"], said)
