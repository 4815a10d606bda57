"""Hundreds of devices in one event loop: up fast, every one answering at once, ports free after."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from scrapli import AsyncScrapli

from nornflow.lab.ports import port_is_free

pytestmark = pytest.mark.integration

PLATFORMS = ("cisco_ios", "arista_eos", "juniper_junos", "cisco_nxos")
NORNIR = {"cisco_ios": "cisco_iosxe", "arista_eos": "arista_eos", "juniper_junos": "juniper_junos",
          "cisco_nxos": "cisco_nxos"}


async def show_version_everywhere(lab: Any, concurrency: int) -> dict[str, str]:
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> tuple[str, str]:
        device = lab.devices[name]
        async with gate, AsyncScrapli(
            host="127.0.0.1", port=device.port, auth_username="admin", auth_password="admin",
            auth_secondary="admin", auth_strict_key=False, platform=NORNIR[device.platform],
            transport="asyncssh", timeout_socket=20, timeout_transport=30, timeout_ops=30,
        ) as conn:
            return name, (await conn.send_command("show version")).result

    return dict(await asyncio.gather(*(one(name) for name in lab.devices)))


def test_300_devices_answer_show_version_at_once_and_stop_frees_the_ports(tmp_path: Path) -> None:
    from nornflow.lab import Lab

    started = time.monotonic()
    lab = Lab(size=300, platforms=PLATFORMS, directory=tmp_path / "lab").start()
    try:
        up = time.monotonic() - started
        assert up < 5, f"300 devices took {up:.1f} s to start"
        ports = [d.port for d in lab.devices.values()]
        assert len(set(ports)) == 300 and not any(port_is_free(p) for p in ports)
        begin = time.monotonic()
        answers = asyncio.run(show_version_everywhere(lab, concurrency=100))
        took = time.monotonic() - begin
        assert sorted(answers) == sorted(lab.devices)
        for name, text in answers.items():
            hostname = {"juniper_junos": f"Hostname: {name}", "cisco_nxos": f"Device name: {name}",
                        "cisco_ios": f"{name} uptime is", "arista_eos": "Arista vEOS-lab"}[lab.devices[name].platform]
            assert hostname in text, (name, text[:200])
        assert took < 20, f"show version on 300 devices took {took:.1f} s"
    finally:
        lab.close()
    assert all(port_is_free(p) for p in ports)
