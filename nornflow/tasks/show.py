"""Send show commands over scrapli and, where ntc-templates has a template, parse them.

The template is looked up in ntc-templates' index by the session's TextFSM platform
(``cisco_iosxe`` matches the ``cisco_ios`` templates; ``arista_eos``, ``cisco_nxos``,
``juniper_junos``) and the command, as scrapli does. Output without a template, or that its
template does not match, is kept as text with ``parsed`` ``None``. ``show version`` has a
template on all four platforms; ``show ip interface brief`` on IOS, EOS and NX-OS, not on
Junos (which has no such command: give Junos ``show interfaces terse`` through
``platform_commands``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from nornir.core.inventory import Host
from nornir.core.task import Result, Task

from nornflow.engine.aio import async_twin
from nornflow.exceptions import NornFlowError


class CommandRejected(NornFlowError, RuntimeError):
    """The device answered a command with an error (``% Invalid input`` and the like)."""


def template_dir() -> str:
    """ntc-templates' directory (``NTC_TEMPLATES_DIR`` overrides it, as in ntc-templates itself)."""
    return os.environ.get("NTC_TEMPLATES_DIR") or str(resources.files("ntc_templates") / "templates")


def template_for(platform: str, command: str) -> str | None:
    """The ntc-templates file(s) (``a.textfsm[:b.textfsm]``) for ``command`` on TextFSM ``platform``."""
    try:
        from textfsm import clitable
    except ImportError:  # the textfsm extra is not installed: nothing parses
        return None
    table = clitable.CliTable("index", template_dir())  # textfsm caches the parsed index per process
    row = table.index.GetRowMatch({"Platform": platform, "Command": command})
    return str(table.index.index[row]["Template"]) if row else None


def parse_output(platform: str, command: str, output: str) -> list[dict[str, Any]] | None:
    """Rows (lower-case keys) that the ntc-template of ``command`` reads from ``output``; ``None`` when
    there is no template or it matches nothing."""
    if template_for(platform, command) is None:
        return None
    from ntc_templates.parse import parse_output as ntc_parse

    try:
        rows = ntc_parse(platform=platform, command=command, data=output, template_dir=template_dir())
    except Exception:  # a template that exists but does not match the output
        return None
    return list(rows) or None


def commands_for(platform: str | None, commands: Sequence[str],
                 platform_commands: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The commands a host of ``platform`` runs: its own list when ``platform_commands`` has one."""
    own = (platform_commands or {}).get(str(platform))
    return list(own if own is not None else commands)


def _answers(host: Host, responses: Any, parse: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for response in responses:
        if response.failed:
            first = next((ln for ln in response.result.splitlines() if ln.strip()), "").strip()
            raise CommandRejected(f"{host.name} rejected {response.channel_input!r}: {first}")
        entry: dict[str, Any] = {"output": response.result}
        if parse:
            entry["parsed"] = parse_output(str(response.textfsm_platform), response.channel_input, response.result)
        data[response.channel_input] = entry
    return data


async def show_commands_async(conn: Any, host: Host, commands: list[str], parse: bool = False,
                              platform_commands: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """:func:`show_commands` on an open ``AsyncScrapli`` session (see :mod:`nornflow.engine.aio`)."""
    responses = await conn.send_commands(commands_for(host.platform, commands, platform_commands))
    return _answers(host, responses, parse)


@async_twin(show_commands_async)
def show_commands(task: Task, commands: list[str], parse: bool = False,
                  platform_commands: Mapping[str, Sequence[str]] | None = None) -> Result:
    """Run ``commands`` in privileged exec mode; data is ``{command: {"output", "parsed"}}``.

    ``platform_commands`` maps a Nornir platform to the commands its hosts run instead (Junos
    has no ``show ip interface brief``). A command the device rejects fails the host, naming
    the command and the device's answer.
    """
    conn = task.host.get_connection("scrapli", task.nornir.config)
    responses = conn.send_commands(commands_for(task.host.platform, commands, platform_commands))
    return Result(host=task.host, result=_answers(task.host, responses, parse))
