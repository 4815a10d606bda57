"""The device behaviours flows rely on, over real SSH with scrapli: show commands that
ntc-templates parses, ACL sequence numbers, and exact rollback through each platform's own
feature (interactive prompts answered the way a flow answers them)."""

from __future__ import annotations

from typing import Any

import pytest
from ntc_templates.parse import parse_output
from scrapli import Scrapli

pytestmark = pytest.mark.integration

PLATFORMS = ("cisco_ios", "arista_eos", "juniper_junos", "cisco_nxos")
NORNIR = {"cisco_ios": "cisco_iosxe", "arista_eos": "arista_eos", "juniper_junos": "juniper_junos",
          "cisco_nxos": "cisco_nxos"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from nornflow.lab import Lab

    with Lab(size=4, platforms=PLATFORMS, directory=tmp_path_factory.mktemp("lab")) as lab:
        yield lab


def connect(lab: Any, platform: str) -> Scrapli:
    device = next(d for d in lab.devices.values() if d.platform == platform)
    return Scrapli(host="127.0.0.1", port=device.port, auth_username="admin", auth_password="admin",
                   auth_secondary="admin", auth_strict_key=False, platform=NORNIR[platform], transport="paramiko",
                   timeout_socket=5, timeout_transport=10, timeout_ops=10)


def test_ios_acl_show_commands_and_configure_replace_over_ssh(lab: Any) -> None:
    with connect(lab, "cisco_ios") as conn:
        before = conn.send_command("show running-config").result
        saved = conn.send_interactive([("copy running-config flash:pre.cfg", "Destination filename [pre.cfg]?"),
                                       ("", "#")])
        assert "bytes copied" in saved.result
        conn.send_configs(["ip access-list extended EDGE", "permit tcp any any eq 22", "deny ip any any", "no 20",
                           "ip route 0.0.0.0 0.0.0.0 192.168.0.254"])
        running = conn.send_command("show running-config").result
        assert "ip access-list extended EDGE\n permit tcp any any eq 22\n!" in running
        routes = parse_output(platform="cisco_ios", command="show ip route",
                              data=conn.send_command("show ip route").result)
        assert {(r["protocol"], r["network"]) for r in routes} >= {("S", "0.0.0.0"), ("C", "192.168.0.0")}
        acl = conn.send_command("show ip access-lists EDGE").result
        assert acl.strip().splitlines()[1].split() == ["10", "permit", "tcp", "any", "any", "eq", "22"]
        replaced = conn.send_interactive([("configure replace flash:pre.cfg", "[no]:"), ("y", "#")])
        assert "Rollback Done" in replaced.result
        assert conn.send_command("show running-config").result == before


def test_nxos_checkpoint_rollback_over_ssh(lab: Any) -> None:
    with connect(lab, "cisco_nxos") as conn:
        before = conn.send_command("show running-config").result.split("!Time:")[1].split("\n", 1)[1]
        assert "Done" in conn.send_command("checkpoint pre").result
        conn.send_configs(["ip access-list EDGE", "permit ip any any", "interface Ethernet1/2", "no shutdown"])
        assert "  10 permit ip any any" in conn.send_command("show running-config").result
        assert "completed successfully" in conn.send_command("rollback running-config checkpoint pre").result
        after = conn.send_command("show running-config").result.split("!Time:")[1].split("\n", 1)[1]
        assert after == before


def test_junos_load_override_and_commit_confirmed_over_ssh(lab: Any) -> None:
    name = next(n for n, d in lab.devices.items() if d.platform == "juniper_junos")
    with connect(lab, "juniper_junos") as conn:
        before = lab.store.text(name)
        assert "Wrote" in conn.send_command("show configuration | save /var/tmp/pre.conf").result
        conn.send_configs(["delete snmp", "set system host-name changed", "commit"])
        assert lab.store.text(name) != before
        result = conn.send_configs(["load override /var/tmp/pre.conf", "commit confirmed 5", "commit check"])
        assert "automatically rolled back in 5 minutes" in result.result
        assert lab.store.text(name) == before and lab.store.get(name).pending is None
