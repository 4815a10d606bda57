"""The configuration each lab device starts with: small, per device, and realistic enough to change.

Every value a template needs to reproduce it is in the lab inventory's host data
(``mgmt_ip``, ``loopback_ip``), so an intended-config template can own the whole config.
"""

from __future__ import annotations

from typing import Any

IOS = """\
version 15.2
service timestamps log datetime msec
!
hostname {name}
!
ip domain name lab.local
!
ntp server 10.0.0.1
!
interface Loopback0
 ip address {loopback_ip} 255.255.255.255
!
interface Ethernet0/0
 description management
 ip address {mgmt_ip} 255.255.255.0
!
interface Ethernet0/1
 shutdown
!
interface Ethernet0/2
 shutdown
!
line vty 0 4
 transport input ssh
!
end
"""

EOS = """\
hostname {name}
!
dns domain lab.local
!
ntp server 10.0.0.1
!
interface Ethernet1
   description management
   ip address {mgmt_ip}/24
!
interface Ethernet2
   shutdown
!
interface Ethernet3
   shutdown
!
interface Loopback0
   ip address {loopback_ip}/32
!
management api http-commands
   shutdown
!
end
"""

#: Indentation per level in ``show running-config``, per fakenos platform.
INDENT = {"cisco_ios": 1, "arista_eos": 3}


def host_data(index: int) -> dict[str, Any]:
    """The per-device values of the baseline (``index`` counts from 1)."""
    return {"mgmt_ip": f"192.168.0.{index}", "loopback_ip": f"10.255.0.{index}"}


def baseline(platform: str, name: str, index: int) -> str:
    template = EOS if platform == "arista_eos" else IOS
    return template.format(name=name, **host_data(index))
