"""Running Nornir tasks inside Prefect flows.

- :mod:`~nornflow.engine.run`: :func:`run_task` (batches of hosts as Prefect task runs, retries,
  the failure budget) and :func:`final_state`;
- :mod:`~nornflow.engine.aio`: device sessions on one asyncio loop (AsyncScrapli over asyncssh);
- :mod:`~nornflow.engine.runner`: the threaded runner with a per-host deadline and a session gate;
- :mod:`~nornflow.engine.records`: per-host records and the outcome of a run;
- :mod:`~nornflow.engine.shards`: one run split over Prefect workers;
- :mod:`~nornflow.engine.explain`: a device exception as one line an engineer can act on;
- :mod:`~nornflow.engine.patches`: two fixes to Prefect that every flow run would pay for otherwise.

Importing this package does not import Prefect; :func:`run_task` and :func:`final_state` load
the engine on first use.
"""

from __future__ import annotations


def __getattr__(name: str) -> object:
    if name in ("run_task", "final_state"):
        from nornflow.engine import run

        return getattr(run, name)
    raise AttributeError(name)


__all__ = ["final_state", "run_task"]
