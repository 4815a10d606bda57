"""Run show commands on the selected hosts; optionally parse them with ntc-templates.

Every run publishes its reproducibility record (``show-commands-record``, :mod:`nornflow.change.record`).
"""

from __future__ import annotations

from typing import Any

from prefect import State, flow

from nornflow.change.record import record_run
from nornflow.engine.run import final_state, run_task
from nornflow.monitor.artifacts import publish_run
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
    platform_commands: dict[str, list[str]] | None = None,
) -> State:
    """Send ``commands`` to every selected host; data per host is ``{command: {output, parsed}}``.

    ``platform_commands`` gives the hosts of a Nornir platform their own commands instead
    (``{"juniper_junos": ["show version", "show interfaces terse"]}``). ``parse`` adds the
    ntc-templates rows where a template exists, ``None`` where none does (the text stays).
    """
    if not commands:
        raise ValueError("commands is empty: give at least one command, e.g. ['show version']")
    empty = sorted(p for p, own in (platform_commands or {}).items() if not own)
    if empty:
        raise ValueError(f"platform_commands gives {empty} no commands: drop them or list at least one each")
    result = run_task(
        show_task, nornir=inventory, hosts=hosts, name="show_commands",
        task_kwargs={"commands": list(commands), "parse": parse,
                     "platform_commands": {p: list(c) for p, c in (platform_commands or {}).items()}},
        retries=retries, retry_delay=retry_delay, max_sessions=max_sessions,
        session_limits=session_limits or (),
    )
    extra = [f"Commands: `{'`, `'.join(commands)}`"]
    extra += [f"Commands on {p}: `{'`, `'.join(c)}`" for p, c in sorted((platform_commands or {}).items())]
    publish_run(result, "show-commands", extra=extra)
    record_run("show_commands", "show-commands", inventory=inventory)
    return final_state(result, failure_budget)

