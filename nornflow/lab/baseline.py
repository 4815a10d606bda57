"""The configuration each lab device starts with: small, per device, and realistic enough to change.

Every value a template needs to reproduce it is in the lab inventory's host data
(``mgmt_ip``, ``loopback_ip``), so an intended-config template can own the whole config.
Junos's baseline is written as ``set`` lines (the device shows it in braces or as ``set``
lines, from one tree).
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

NXOS = """\
version 9.3(10) Bios:version
hostname {name}
vdc {name} id 1
  limit-resource vlan minimum 16 maximum 4094
feature lldp
feature interface-vlan
username admin role network-admin
ip domain-name lab.local
ntp server 10.0.0.1 use-vrf management
snmp-server location {site} lab
vrf context management
  ip route 0.0.0.0/0 192.168.0.254
interface Ethernet1/1
  description management
  no switchport
  ip address {mgmt_ip}/24
  no shutdown
interface Ethernet1/2
  shutdown
interface Ethernet1/3
  shutdown
interface loopback0
  ip address {loopback_ip}/32
line console
line vty
"""

JUNOS = """\
set version 21.4R3.15
set system host-name {name}
set system domain-name lab.local
set system time-zone UTC
set system login user admin uid 2000
set system login user admin class super-user
set system services ssh
set system services netconf ssh
set system syslog file messages any notice
set system ntp server 10.0.0.1
set interfaces ge-0/0/0 description management
set interfaces ge-0/0/0 unit 0 family inet address {mgmt_ip}/24
set interfaces ge-0/0/1 disable
set interfaces ge-0/0/2 disable
set interfaces lo0 unit 0 family inet address {loopback_ip}/32
set snmp location "{site} lab"
set routing-options router-id {loopback_ip}
set routing-options static route 0.0.0.0/0 next-hop 192.168.0.254
set protocols lldp interface all
"""

TEMPLATES = {"cisco_ios": IOS, "arista_eos": EOS, "cisco_nxos": NXOS, "juniper_junos": JUNOS}


def host_data(index: int) -> dict[str, Any]:
    """The per-device values of the baseline (``index`` counts from 1)."""
    high, low = divmod(index, 256)
    return {"mgmt_ip": f"192.168.{high}.{low}", "loopback_ip": f"10.255.{high}.{low}"}


def baseline(platform: str, name: str, index: int) -> str:
    return TEMPLATES.get(platform, IOS).format(name=name, site=name.split("-")[0], **host_data(index))
