"""IOS show commands a flow calls, in the layout of real IOS 15 output (ntc-templates' captured
outputs under ``tests/cisco_ios/<command>/``), from the device's facts (:mod:`nornflow.lab.facts`).
"""

from __future__ import annotations

import time

from nornflow.lab import acl, facts
from nornflow.lab.tree import Node

ROUTE_CODES = """\
Codes: L - local, C - connected, S - static, R - RIP, M - mobile, B - BGP
       D - EIGRP, EX - EIGRP external, O - OSPF, IA - OSPF inter area
       N1 - OSPF NSSA external type 1, N2 - OSPF NSSA external type 2
       E1 - OSPF external type 1, E2 - OSPF external type 2
       i - IS-IS, su - IS-IS summary, L1 - IS-IS level-1, L2 - IS-IS level-2
       ia - IS-IS inter area, * - candidate default, U - per-user static route
       o - ODR, P - periodic downloaded static route, H - NHRP, l - LISP
       a - application route
       + - replicated route, % - next hop override, p - overrides from PfR
"""
COUNTERS = """\
  ARP type: ARPA, ARP Timeout 04:00:00
  Last input 00:00:01, output 00:00:01, output hang never
  Last clearing of "show interface" counters never
  Input queue: 0/75/0/0 (size/max/drops/flushes); Total output drops: 0
  Queueing strategy: fifo
  Output queue: 0/40 (size/max)
  5 minute input rate 0 bits/sec, 0 packets/sec
  5 minute output rate 0 bits/sec, 0 packets/sec
     {packets} packets input, {bytes} bytes, 0 no buffer
     Received 0 broadcasts (0 IP multicasts)
     0 runts, 0 giants, 0 throttles
     0 input errors, 0 CRC, 0 frame, 0 overrun, 0 ignored
     0 input packets with dribble condition detected
     {packets} packets output, {bytes} bytes, 0 underruns
     0 output errors, 0 collisions, 1 interface resets
     0 unknown protocol drops
     0 babbles, 0 late collision, 0 deferred
     0 lost carrier, 0 no carrier
     0 output buffer failures, 0 output buffers swapped out
"""


def show_interfaces(root: Node, index: int) -> str:
    out = []
    for n, item in enumerate(facts.interfaces(root)):
        state = "up" if item.up else "administratively down"
        out.append(f"{item.name} is {state}, line protocol is {'up' if item.up else 'down'} ")
        if item.loopback:
            out.append("  Hardware is Loopback")
        else:
            value = f"5254{index * 16 + n:08x}"
            hardware = ".".join(value[i:i + 4] for i in range(0, 12, 4))
            out.append(f"  Hardware is AmdP2, address is {hardware} (bia {hardware})")
        if item.description:
            out.append(f"  Description: {item.description}")
        for address in item.addresses[:1]:
            out.append(f"  Internet address is {address.with_prefixlen}")
        for address in item.addresses[1:]:
            out.append(f"  Secondary address {address.with_prefixlen}")
        bw, dly = (8000000, 5000) if item.loopback else (10000, 1000)
        out.append(f"  MTU {item.mtu} bytes, BW {bw} Kbit/sec, DLY {dly} usec, ")
        out.append("     reliability 255/255, txload 1/255, rxload 1/255")
        out.append(f"  Encapsulation {'LOOPBACK' if item.loopback else 'ARPA'}, loopback not set")
        out.append("  Keepalive set (10 sec)")
        packets = 1000 + 37 * index if item.up else 0
        out.append(COUNTERS.format(packets=packets, bytes=packets * 96).rstrip("\n"))
    return "\n".join(out) + "\n"


def show_inventory(hostname: str, serial: str) -> str:
    del hostname
    return (f'NAME: "IOSv", DESCR: "IOSv chassis, Hw Serial#: {serial}, Hw Revision: 1.0"\n'
            f"PID: IOSv              , VID: 1.0, SN: {serial}\n\n\n")


def show_cdp_neighbors(root: Node) -> str:
    out = ["Capability Codes: R - Router, T - Trans Bridge, B - Source Route Bridge",
           "                  S - Switch, H - Host, I - IGMP, r - Repeater, P - Phone, ",
           "                  D - Remote, C - CVTA, M - Two-port Mac Relay ", "",
           "Device ID        Local Intrfce     Holdtme    Capability  Platform  Port ID"]
    found = facts.neighbors(facts.interfaces(root))
    for n, (item, host) in enumerate(found):
        out.append(f"{host:<17}{_short(item.name):<18}{165 - n:<11}R B             {'IOSv':<10}Eth 0/{n}")
    out.append("")
    out.append(f"Total cdp entries displayed : {len(found)}")
    return "\n".join(out) + "\n"


def show_lldp_neighbors(root: Node) -> str:
    out = ["Capability codes:", "    (R) Router, (B) Bridge, (T) Telephone, (C) DOCSIS Cable Device",
           "    (W) WLAN Access Point, (P) Repeater, (S) Station, (O) Other", "",
           "Device ID           Local Intf     Hold-time  Capability      Port ID"]
    found = facts.neighbors(facts.interfaces(root))
    for n, (item, host) in enumerate(found):
        out.append(f"{host[:19]:<20}{_short(item.name):<15}{120:<11}{'R':<16}Et0/{n}")
    out.append("")
    out.append(f"Total entries displayed: {len(found)}")
    return "\n".join(out) + "\n"


def _short(name: str) -> str:
    for long, short in (("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"), ("Ethernet", "Et"),
                        ("TenGigabitEthernet", "Te"), ("Loopback", "Lo")):
        if name.startswith(long):
            return short + name[len(long):]
    return name


def show_ip_route(root: Node) -> str:
    table = facts.routes(root, facts.interfaces(root))
    default = next((r for r in table if r.code == "S" and r.prefix.prefixlen == 0), None)
    gateway = (f"Gateway of last resort is {default.next_hop} to network 0.0.0.0" if default
               else "Gateway of last resort is not set")
    out = [ROUTE_CODES, gateway, ""]
    groups: dict[str, list[facts.Route]] = {}
    for route in table:
        groups.setdefault(_classful(route), []).append(route)
    for network, members in groups.items():
        masks = {r.prefix.prefixlen for r in members}
        variably = len(masks) > 1
        if not (len(members) == 1 and f"{members[0].prefix}" == network):
            if variably:
                out.append(f"      {network} is variably subnetted, {len(members)} subnets, {len(masks)} masks")
            else:
                out.append(f"      {network.split('/')[0]}/{next(iter(masks))} is subnetted, "
                           f"{len(members)} subnet{'s' if len(members) > 1 else ''}")
        for route in members:
            shown = str(route.prefix) if variably or route.prefix.prefixlen == 0 else str(route.prefix.network_address)
            code = "S*" if route.code == "S" and route.prefix.prefixlen == 0 else route.code
            pad = f"{code:<9}" if not (len(members) == 1 and route.prefix.prefixlen == 0) else f"{code:<6}"
            if route.code == "S":
                out.append(f"{pad}{shown} [{route.distance}/0] via {route.next_hop}")
            else:
                out.append(f"{pad}{shown} is directly connected, {route.interface}")
    return "\n".join(out) + "\n"


def _classful(route: facts.Route) -> str:
    first = int(str(route.prefix.network_address).split(".")[0])
    length = 8 if first < 128 else 16 if first < 192 else 24
    if route.prefix.prefixlen < length:
        return str(route.prefix)
    network = route.prefix.supernet(new_prefix=length) if route.prefix.prefixlen > length else route.prefix
    return str(network)


def show_ip_bgp_summary(root: Node) -> str:
    found = facts.interfaces(root)
    config = facts.bgp(root, found)
    if config is None:
        return "% BGP not active\n\n"
    asn, router_id, peers = config
    out = [f"BGP router identifier {router_id}, local AS number {asn}",
           "BGP table version is 1, main routing table version 1", ""]
    if peers:
        out.append("Neighbor        V           AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd")
        for peer in peers:
            state = "Idle (Admin)" if peer.shutdown else "Idle"
            out.append(f"{peer.address:<16}4 {peer.remote_as:>12}       0       0        1    0    0 never    {state}")
    return "\n".join(out) + "\n"


def show_access_lists(root: Node, name: str = "") -> str:
    """``show ip access-lists``: every entry with its sequence number (standard ones in IOS's
    ``10 permit 10.0.0.0, wildcard bits 0.0.0.255`` form, ``deny`` padded)."""
    out = []
    for node in root.children:
        words = node.text.split()
        if words[:2] != ["ip", "access-list"] or len(words) < 4 or (name and words[3] != name):
            continue
        kind = words[2]
        out.append(f"{kind.capitalize()} IP access list {words[3]}")
        for child in node.children:
            seq, body = acl.split(child.text)
            if seq is None or not body.startswith(("permit", "deny")):
                continue
            if kind == "standard":
                body = _standard(body)
            out.append(f"    {seq} {body}")
    return "".join(f"{line}\n" for line in out)


def _standard(body: str) -> str:
    action, *rest = body.split()
    if rest[:1] == ["host"]:
        rest = rest[1:]
    elif len(rest) >= 2 and rest[0][0].isdigit() and rest[1][0].isdigit():
        rest = [f"{rest[0]}, wildcard bits {rest[1]}", *rest[2:]]
    return f"{action:<6} {' '.join(rest)}" if action == "deny" else f"{action} {' '.join(rest)}"


def show_logging(log: list[tuple[float, str]]) -> str:
    lines = [f"*{time.strftime('%b %d %H:%M:%S', time.gmtime(at)).replace(' 0', '  ', 1)}"
             f".{int(at * 1000) % 1000:03d}: {message}" for at, message in log]
    return (
        "Syslog logging: enabled (0 messages dropped, 0 messages rate-limited, 0 flushes, 0 overruns, "
        "xml disabled, filtering disabled)\n\nNo Active Message Discriminator.\n\n\n\n"
        "No Inactive Message Discriminator.\n\n\n"
        f"    Console logging: level debugging, {len(log)} messages logged, xml disabled,\n"
        "                     filtering disabled\n"
        "    Monitor logging: level debugging, 0 messages logged, xml disabled,\n"
        "                     filtering disabled\n"
        f"    Buffer logging:  level debugging, {len(log)} messages logged, xml disabled,\n"
        "                    filtering disabled\n"
        "    Exception Logging: size (4096 bytes)\n"
        "    Count and timestamp logging messages: disabled\n"
        "    Persistent logging: disabled\n\nNo active filter modules.\n\n"
        f"    Trap logging: level informational, {len(log)} message lines logged\n"
        "        Logging Source-Interface:       VRF Name:\n\n"
        "Log Buffer (8192 bytes):\n\n" + "".join(f"{line}\n" for line in lines)
    )
