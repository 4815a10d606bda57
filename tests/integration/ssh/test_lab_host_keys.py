"""The lab's host keys are stable across restarts in one directory, and its known_hosts tells the truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest

from nornflow.lab import Lab

pytestmark = pytest.mark.integration


def _presented(port: int) -> str:
    async def ask() -> str:
        key = await asyncssh.get_server_host_key("127.0.0.1", port)
        assert key is not None
        return key.export_public_key().decode().split()[1]

    return asyncio.run(ask())


def test_a_lab_restarted_in_its_directory_presents_the_same_key(tmp_path: Path) -> None:
    with Lab(size=2, directory=tmp_path) as lab:
        first = (lab.inventory_dir / "known_hosts").read_text().split()[2]
        assert _presented(next(iter(lab.devices.values())).port) == first
    with Lab(size=2, directory=tmp_path) as again:
        lines = (again.inventory_dir / "known_hosts").read_text().splitlines()
        assert {line.split()[2] for line in lines} == {first}
        assert [line.split()[0] for line in lines] == [f"[127.0.0.1]:{d.port}" for d in again.devices.values()]
        assert _presented(next(iter(again.devices.values())).port) == first


def test_an_old_device_gets_an_rsa_key_in_known_hosts(tmp_path: Path) -> None:
    with Lab(size=2, directory=tmp_path) as lab:
        old = sorted(lab.devices)[0]
        lab.set_legacy_ssh(old)
        text = (lab.inventory_dir / "known_hosts").read_text()
        entries = {line.split()[-1]: line.split()[1] for line in text.splitlines()}
        assert entries[old] == "ssh-rsa" and set(entries.values()) == {"ssh-rsa", "ssh-ed25519"}
        assert (tmp_path / "ssh_host_rsa_key").stat().st_mode & 0o777 == 0o600
