"""Read a device's running configuration, without the lines that change on every read.

Which command reads it and which lines churn is per platform data
(:mod:`nornflow.tasks.platforms`): ``show running-config`` on IOS, EOS and NX-OS,
``show configuration | display set`` on Junos.
"""

from __future__ import annotations

from typing import Any

from nornir.core.inventory import Host
from nornir.core.task import Result, Task

from nornflow.engine.aio import async_twin
from nornflow.tasks.platforms import device_platform


def clean_config(text: str, platform: str | None = None) -> str:
    """``text`` without the volatile lines of ``platform`` (IOS's when unknown)."""
    return device_platform(platform).clean(text)


def running_config_command(platform: str | None) -> str:
    return device_platform(platform).running_config


def _config_of(host: Host, response: Any) -> str:
    profile = device_platform(host.platform)
    if response.failed:
        raise RuntimeError(f"{host.name} rejected {profile.running_config!r}: {response.result.strip()[:200]}")
    return profile.clean(response.result)


async def get_running_config_async(conn: Any, host: Host) -> str:
    """:func:`get_running_config` on an open ``AsyncScrapli`` session (see :mod:`nornflow.engine.aio`)."""
    return _config_of(host, await conn.send_command(device_platform(host.platform).running_config))


def _known_platform(host: Host) -> None:
    device_platform(host.platform)  # an unknown platform is refused here, before any session


@async_twin(get_running_config_async, before_session=_known_platform)
def get_running_config(task: Task) -> Result:
    """The running configuration as text (volatile lines removed), for backups and diffs.

    The platform is looked up before the session opens: a name nobody registered fails the host
    with :class:`~nornflow.tasks.platforms.UnknownPlatform` (the known names listed), not after a login.
    """
    profile = device_platform(task.host.platform)
    conn = task.host.get_connection("scrapli", task.nornir.config)
    response = conn.send_command(profile.running_config)
    return Result(host=task.host, result=_config_of(task.host, response))
