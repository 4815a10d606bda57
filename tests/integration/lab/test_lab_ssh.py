"""Every lab platform over real SSH, with scrapli's paramiko (the inventory's) and asyncssh transports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import pytest
import yaml
from scrapli import AsyncScrapli, Scrapli
from scrapli.exceptions import ScrapliAuthenticationFailed, ScrapliPrivilegeError

pytestmark = pytest.mark.integration

PLATFORMS = ("cisco_ios", "arista_eos", "juniper_junos", "cisco_nxos")
NORNIR = {"cisco_ios": "cisco_iosxe", "arista_eos": "arista_eos", "juniper_junos": "juniper_junos",
          "cisco_nxos": "cisco_nxos"}
VERSION_FIELD = {"cisco_ios": "version", "arista_eos": "image", "juniper_junos": "junos_version", "cisco_nxos": "os"}
PASSWORD = "lab-pass-1"


def change(platform: str, marker: str) -> list[str]:
    if platform == "juniper_junos":
        return [f"set snmp contact {marker}", "commit"]
    interface = {"cisco_ios": "Ethernet0/1", "arista_eos": "Ethernet2", "cisco_nxos": "Ethernet1/2"}[platform]
    return [f"interface {interface}", f" description {marker}"]


def shown(platform: str) -> str:
    return "show configuration" if platform == "juniper_junos" else "show running-config"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from nornflow.lab import Lab

    with Lab(size=4, platforms=PLATFORMS, directory=tmp_path_factory.mktemp("lab"), password=PASSWORD) as lab:
        yield lab


def options(lab: Any, name: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    device = lab.devices[name]
    return {"host": "127.0.0.1", "port": device.port, "auth_username": "admin", "auth_password": password,
            "auth_secondary": password, "auth_strict_key": False, "platform": NORNIR[device.platform],
            "timeout_socket": 5, "timeout_transport": 10, "timeout_ops": 10, **extra}


def test_inventory_maps_every_platform_to_its_group(lab: Any) -> None:
    groups = yaml.safe_load((lab.inventory_dir / "groups.yaml").read_text())
    assert {g: v["platform"] for g, v in groups.items()} == {
        "ios": "cisco_iosxe", "eos": "arista_eos", "junos": "juniper_junos", "nxos": "cisco_nxos"}
    hosts = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())
    assert sorted(h["data"]["lab_platform"] for h in hosts.values()) == sorted(PLATFORMS)


def test_paramiko_sessions_parse_show_version_and_config_persists(lab: Any) -> None:
    for name, device in lab.devices.items():
        with Scrapli(transport="paramiko", **options(lab, name)) as conn:
            response = conn.send_command("show version")
            assert not response.failed, (name, response.result)
            parsed = response.textfsm_parse_output()
            assert parsed and parsed[0][VERSION_FIELD[device.platform]], (device.platform, response.result)
            configs = conn.send_configs(change(device.platform, f"para-{device.platform}"))
            assert not configs.failed, [r.result for r in configs]
            assert conn.send_command("show frobnicator").failed
        with Scrapli(transport="paramiko", **options(lab, name)) as conn:  # a new session sees the change
            assert f"para-{device.platform}" in conn.send_command(shown(device.platform)).result
        assert f"para-{device.platform}" in lab.running_config(name)


def test_asyncssh_sessions_open_show_and_configure_every_platform(lab: Any) -> None:
    async def one(name: str) -> str:
        platform = lab.devices[name].platform
        async with AsyncScrapli(transport="asyncssh", **options(lab, name)) as conn:
            version = await conn.send_command("show version")
            assert not version.failed and version.textfsm_parse_output(), (platform, version.result)
            configs = await conn.send_configs(change(platform, f"async-{platform}"))
            assert not configs.failed, [r.result for r in configs]
            return (await conn.send_command(shown(platform))).result

    async def every() -> list[str]:
        return await asyncio.gather(*(one(name) for name in lab.devices))

    for name, text in zip(lab.devices, asyncio.run(every()), strict=True):
        assert f"async-{lab.devices[name].platform}" in text


def test_wrong_password_is_refused_and_a_rotation_takes_effect(lab: Any) -> None:
    name = next(n for n, d in lab.devices.items() if d.platform == "juniper_junos")
    with pytest.raises(ScrapliAuthenticationFailed):
        Scrapli(transport="paramiko", **options(lab, name, password="wrong")).open()
    lab.set_password(name, "rotated-2")
    try:
        with pytest.raises(ScrapliAuthenticationFailed):
            Scrapli(transport="paramiko", **options(lab, name)).open()
        with Scrapli(transport="paramiko", **options(lab, name, password="rotated-2")) as conn:
            assert "Junos: 21.4R3.15" in conn.send_command("show version").result
    finally:
        lab.set_password(name, PASSWORD)


def test_ios_enable_needs_the_secret(lab: Any) -> None:
    name = next(n for n, d in lab.devices.items() if d.platform == "cisco_ios")
    with pytest.raises(ScrapliPrivilegeError):  # "% Bad secrets", back at ">"
        Scrapli(transport="paramiko", **options(lab, name, auth_secondary="not-it", timeout_ops=2)).open()


def test_stopped_device_refuses_and_comes_back(lab: Any) -> None:
    name = next(n for n, d in lab.devices.items() if d.platform == "cisco_nxos")
    conn = Scrapli(transport="paramiko", **options(lab, name))
    conn.open()
    assert [s.device for s in lab.sessions(name)] == [name]
    lab.stop_device(name)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", lab.devices[name].port), 2):
        pass
    deadline = time.monotonic() + 5
    while lab.sessions(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lab.sessions(name) == []  # its open session dropped with it
    with contextlib.suppress(OSError):  # scrapli's on_close writes `exit` to the dead session
        conn.close()
    lab.start_device(name)
    with Scrapli(transport="paramiko", **options(lab, name)) as again:
        assert "NXOS: version 9.3(10)" in again.send_command("show version").result


def test_a_held_answer_does_not_hold_the_other_devices(lab: Any) -> None:
    held, other = (n for n, d in lab.devices.items() if d.platform in ("cisco_ios", "arista_eos"))
    lab.delay_line(held, "ntp server 192.0.2.77", 30)
    finished: list[float] = []

    def push() -> None:
        with Scrapli(transport="paramiko", **options(lab, held, timeout_ops=60)) as conn:
            conn.send_configs(["ntp server 192.0.2.77"])
            finished.append(time.monotonic())

    thread = threading.Thread(target=push)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while "ntp server 192.0.2.77" not in lab.received_lines(held) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "ntp server 192.0.2.77" in lab.running_config(held)  # applied, its answer held
        start = time.monotonic()
        with Scrapli(transport="paramiko", **options(lab, other)) as conn:
            assert not conn.send_command("show version").failed
        assert time.monotonic() - start < 5 and not finished
    finally:
        released = time.monotonic()
        lab.clear_faults(held)
        thread.join(30)
    assert finished and finished[0] - released < 5
