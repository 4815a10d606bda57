"""``nornflow lab up``/``down``: the lab in a process of its own, serving the new platforms too."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapli import Scrapli

from nornflow.lab import daemon
from nornflow.lab.ports import port_is_free

pytestmark = pytest.mark.integration


def test_up_serves_junos_and_nxos_from_its_own_process_and_down_frees_the_ports(tmp_path: Path) -> None:
    state = daemon.up(tmp_path, size=4, platforms=["juniper_junos", "cisco_nxos"])
    try:
        assert state["running"] and state["start_s"] < 5
        devices = {d["name"]: d for d in state["devices"]}
        assert sorted(d["platform"] for d in devices.values()) == ["cisco_nxos"] * 2 + ["juniper_junos"] * 2
        junos = next(d for d in devices.values() if d["platform"] == "juniper_junos")
        with Scrapli(host="127.0.0.1", port=junos["port"], auth_username="admin", auth_password="admin",
                     auth_strict_key=False, platform="juniper_junos", transport="paramiko", timeout_ops=10) as conn:
            assert f"Hostname: {junos['name']}" in conn.send_command("show version").result
            assert not conn.send_configs(["set system ntp server 192.0.2.5", "commit"]).failed
            assert "set system ntp server 192.0.2.5" in conn.send_command("show configuration | display set").result
        assert not any(port_is_free(d["port"]) for d in devices.values())
    finally:
        assert daemon.down(tmp_path)
    assert daemon.read_state(tmp_path) is None
    assert all(port_is_free(d["port"]) for d in devices.values())
