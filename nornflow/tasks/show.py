"""Send show commands over scrapli and, where ntc-templates has a template, parse them."""

from __future__ import annotations

from typing import Any

from nornir.core.task import Result, Task

from nornflow.exceptions import NornFlowError


class CommandRejected(NornFlowError, RuntimeError):
    """The device answered a command with an error (``% Invalid input`` and the like)."""


def _parse(response: Any) -> Any:
    """Structured output through ntc-templates/TextFSM, or ``None`` when no template exists."""
    try:
        parsed = response.textfsm_parse_output()
    except Exception:  # a template that exists but does not match the output
        return None
    return parsed or None


def show_commands(task: Task, commands: list[str], parse: bool = False) -> Result:
    """Run ``commands`` in privileged exec mode; data is ``{command: {"output", "parsed"}}``.

    A command the device rejects fails the host, naming the command and the device's answer.
    """
    conn = task.host.get_connection("scrapli", task.nornir.config)
    responses = conn.send_commands(list(commands))
    data: dict[str, Any] = {}
    for response in responses:
        if response.failed:
            first = next((ln for ln in response.result.splitlines() if ln.strip()), "").strip()
            raise CommandRejected(f"{task.host.name} rejected {response.channel_input!r}: {first}")
        entry: dict[str, Any] = {"output": response.result}
        if parse:
            entry["parsed"] = _parse(response)
        data[response.channel_input] = entry
    return Result(host=task.host, result=data)
