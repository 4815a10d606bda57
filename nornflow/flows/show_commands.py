"""Run show commands on the selected hosts; optionally parse them with ntc-templates."""

from __future__ import annotations

from typing import Any

from prefect import State, flow

from nornflow.engine import final_state, run_task
from nornflow.reporting import publish_run
from nornflow.tasks import show_commands as show_task


@flow(name="show_commands", log_prints=True)
def show_commands(
    inventory: str,
    commands: list[str],
    hosts: dict[str, Any] | None = None,
    parse: bool = False,
    retries: int = 0,
    retry_delay: float = 5.0,
    failure_budget: int | str | None = None,
    max_sessions: int = 100,
    session_limits: list[str] | None = None,
) -> State:
    """Send ``commands`` to every selected host; data per host is ``{command: {output, parsed}}``."""
    if not commands:
        raise ValueError("commands is empty: give at least one command, e.g. ['show version']")
    result = run_task(
        show_task, nornir=inventory, hosts=hosts, name="show_commands",
        task_kwargs={"commands": list(commands), "parse": parse},
        retries=retries, retry_delay=retry_delay, max_sessions=max_sessions,
        session_limits=session_limits or (),
    )
    publish_run(result, "show-commands", extra=[f"Commands: `{'`, `'.join(commands)}`"])
    return final_state(result, failure_budget)

