"""Start a scheduled flow run on its second: never early, and not a poll interval late.

A Prefect worker takes a run up to ``PREFECT_WORKER_PREFETCH_SECONDS`` before its scheduled time
and starts its process at once. Prefect's server then holds the run's move to Running until the
scheduled time, but in whole seconds (``WaitForScheduledTime`` rounds the delay to the nearest
second, so a run can start up to half a second early), and the process spends its first seconds
importing the flow. Set as a process work pool's ``command``, this module runs Prefect's own
engine (``python -m prefect.engine``) unchanged except for one thing: once the flow is loaded
(imports, pull steps) and the run set up, the engine's proposal of the Running state waits until
the run's expected start time. The run then starts on its second, one API call after it.

    work_pool:
      name: nornflow-lab
      job_variables: {command: "python -m nornflow.triggers.ontime"}

A run whose time has passed (a manual run, a late pickup) starts at once; a run more than
:data:`MAX_WAIT` seconds ahead is left to Prefect's own wait. The worker must take runs early
enough for the process to start: ``PREFECT_WORKER_PREFETCH_SECONDS`` at least
``PREFECT_WORKER_QUERY_SECONDS`` plus the process's start-up (20 s: a loaded 2-core machine took
more than 10 s to start one).
"""

from __future__ import annotations

import runpy
import time
from datetime import UTC, datetime
from typing import Any

#: Longest wait this module does itself (seconds); beyond it, Prefect's own wait applies.
MAX_WAIT = 900.0


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


def _report(when: datetime, waited: float, scheduled: bool) -> None:
    """Say in the flow run's process output (the worker's log) how the start went.

    Only a run its deployment's schedule created can be taken too late: a run an event or a person
    started expects to start when it was created, which has always passed.
    """
    from prefect.logging import get_logger

    logger = get_logger("nornflow.ontime")
    late = time.time() - when.timestamp()
    if waited:
        logger.info("waited %.3f s for the scheduled start %s", waited, when.isoformat())
    elif scheduled and 0.5 < late < MAX_WAIT:
        logger.warning("ready %.1f s after the scheduled start %s: the worker took the run too late; raise "
                       "PREFECT_WORKER_PREFETCH_SECONDS", late, when.isoformat())


#: Flow runs of this process whose Running proposal waits (flow run id -> expected start).
_due: dict[str, tuple[datetime, bool]] = {}


def _take(state: Any, flow_run_id: Any) -> tuple[datetime, bool] | None:
    """When a Running proposal of ``flow_run_id`` waits for, and whether a schedule made the run (once:
    retries and later states do not wait)."""
    if flow_run_id is None or not getattr(state, "is_running", lambda: False)():
        return None
    return _due.pop(str(flow_run_id), None)


def install() -> None:
    """Make Prefect's flow engine propose a run's Running state no sooner than its scheduled instant.

    ``run_flow`` notes the run's expected start; the engine's ``propose_state_sync`` (and
    ``propose_state`` for async flows) waits for it just before proposing Running, after the flow
    was loaded and the run set up, so only one API call separates the wake-up from the start.
    """
    from prefect import flow_engine

    if getattr(flow_engine.run_flow, "_nornflow_ontime", False):
        return
    run_flow = flow_engine.run_flow
    propose_sync, propose_async = flow_engine.propose_state_sync, flow_engine.propose_state  # type: ignore[attr-defined]

    def run_flow_on_time(flow: Any, flow_run: Any = None, *args: Any, **kwargs: Any) -> Any:
        when = scheduled_start(flow_run) if flow_run is not None else None
        if when is not None:
            _due[str(flow_run.id)] = (when, bool(getattr(flow_run, "auto_scheduled", False)))
        return run_flow(flow, flow_run, *args, **kwargs)

    def propose_on_time(client: Any, state: Any, *args: Any, **kwargs: Any) -> Any:
        due = _take(state, kwargs.get("flow_run_id"))
        if due is not None:
            _report(due[0], wait_until(due[0]), due[1])
        return propose_sync(client, state, *args, **kwargs)

    async def apropose_on_time(client: Any, state: Any, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        due = _take(state, kwargs.get("flow_run_id"))
        if due is not None and 0 < (waited := due[0].timestamp() - time.time()) <= MAX_WAIT:
            while (remaining := due[0].timestamp() - time.time()) > 0:
                await asyncio.sleep(min(remaining, 1.0))
            _report(due[0], waited, due[1])
        return await propose_async(client, state, *args, **kwargs)

    run_flow_on_time._nornflow_ontime = True  # type: ignore[attr-defined]
    flow_engine.run_flow = run_flow_on_time  # type: ignore[assignment]
    setattr(flow_engine, "propose_state_sync", propose_on_time)  # noqa: B010 - not exported, but what set_state calls
    setattr(flow_engine, "propose_state", apropose_on_time)  # noqa: B010


def main() -> None:
    """``python -m nornflow.triggers.ontime [FLOW_RUN_ID]``: Prefect's engine, starting on time."""
    install()
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
