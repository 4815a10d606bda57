"""Read a device's running configuration, without the lines that change on every read."""

from __future__ import annotations

import re

from nornir.core.task import Result, Task

#: Lines that differ between two reads of an unchanged configuration (clocks, byte counts).
VOLATILE = re.compile(
    r"^(! Time:|! Last configuration change|! NVRAM config last updated|Current configuration :"
    r"|Building configuration|ntp clock-period)"
)

COMMANDS = {"juniper_junos": "show configuration"}


def clean_config(text: str) -> str:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").splitlines() if not VOLATILE.match(ln)]
    return "\n".join(lines).strip("\n") + "\n"


def get_running_config(task: Task) -> Result:
    """The running configuration as text (volatile lines removed), for backups and diffs."""
    conn = task.host.get_connection("scrapli", task.nornir.config)
    command = COMMANDS.get(str(task.host.platform), "show running-config")
    response = conn.send_command(command)
    if response.failed:
        raise RuntimeError(f"{task.host.name} rejected {command!r}: {response.result.strip()[:200]}")
    return Result(host=task.host, result=clean_config(response.result))
