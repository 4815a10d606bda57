"""Start a scheduled flow run on its second: never early, and not a poll interval late.

A Prefect worker takes a run up to ``PREFECT_WORKER_PREFETCH_SECONDS`` before its scheduled time
and starts its process at once. Prefect's server then holds the run's move to Running until the
scheduled time, but in whole seconds (``WaitForScheduledTime`` rounds the delay to the nearest
second, so a run can start up to half a second early), and the process spends its first seconds
importing the flow. Set as a process work pool's ``command``, this module runs Prefect's own
engine (``python -m prefect.engine``) unchanged except for one thing: between loading the flow
(imports, pull steps) and starting it, it sleeps until the run's expected start time. The first
state change then lands on the second, within the few milliseconds of one API call.

    work_pool:
      name: nornflow-lab
      job_variables: {command: "python -m nornflow.triggers.ontime"}

A run whose time has passed (a manual run, a late pickup) starts at once; a run more than
:data:`MAX_WAIT` seconds ahead is left to Prefect's own wait. The worker must take runs early
enough for the process to start: ``PREFECT_WORKER_PREFETCH_SECONDS`` at least
``PREFECT_WORKER_QUERY_SECONDS`` plus the process's start-up (10 s is ample).
"""

from __future__ import annotations

import logging
import runpy
import time
from datetime import UTC, datetime
from typing import Any

#: Longest wait this module does itself (seconds); beyond it, Prefect's own wait applies.
MAX_WAIT = 900.0

log = logging.getLogger("nornflow.triggers.ontime")


def wait_until(when: datetime, *, max_wait: float = MAX_WAIT) -> float:
    """Sleep until ``when`` (an aware time); returns the seconds waited (0 when it has passed or is too far)."""
    remaining = when.timestamp() - time.time()
    if remaining <= 0 or remaining > max_wait:
        return 0.0
    waited = remaining
    while remaining > 0:
        time.sleep(min(remaining, 1.0))
        remaining = when.timestamp() - time.time()
    return waited


def scheduled_start(flow_run: Any) -> datetime | None:
    """The run's expected start time (the schedule's instant for a scheduled run), as an aware datetime."""
    expected: datetime | None = getattr(flow_run, "expected_start_time", None)
    if expected is None:
        return None
    return expected if expected.tzinfo else expected.replace(tzinfo=UTC)


def install() -> None:
    """Make ``prefect.flow_engine.run_flow`` wait for the run's scheduled second before it starts it."""
    from prefect import flow_engine

    original = flow_engine.run_flow
    if getattr(original, "_nornflow_ontime", False):
        return

    def run_flow_on_time(flow: Any, flow_run: Any = None, *args: Any, **kwargs: Any) -> Any:
        when = scheduled_start(flow_run) if flow_run is not None else None
        if when is not None:
            waited = wait_until(when)
            if waited:
                log.info("waited %.3f s for the scheduled start %s", waited, when.isoformat())
        return original(flow, flow_run, *args, **kwargs)

    run_flow_on_time._nornflow_ontime = True  # type: ignore[attr-defined]
    flow_engine.run_flow = run_flow_on_time  # type: ignore[assignment]


def main() -> None:
    """``python -m nornflow.triggers.ontime [FLOW_RUN_ID]``: Prefect's engine, starting on time."""
    install()
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
