"""EOS and NX-OS show commands a flow calls, in the layouts of their captured outputs in
ntc-templates' tests (``tests/arista_eos/...``, ``tests/cisco_nxos/...``), from the device's facts.
"""

from __future__ import annotations

from nornflow.lab import acl, facts
from nornflow.lab.tree import Node

EOS_CODES = """\
VRF: default
Codes: C - connected, S - static, K - kernel,
       O - OSPF, IA - OSPF inter area, E1 - OSPF external type 1,
       E2 - OSPF external type 2, N1 - OSPF NSSA external type 1,
       N2 - OSPF NSSA external type2, B - Other BGP Routes,
       B I - iBGP, B E - eBGP, R - RIP, I L1 - IS-IS level 1,
       I L2 - IS-IS level 2, O3 - OSPFv3, A B - BGP Aggregate,
       A O - OSPF Summary, NG - Nexthop Group Static Route,
       V - VXLAN Control Service, M - Martian,
       DH - DHCP client installed default route,
       DP - Dynamic Policy Route, L - VRF Leaked,
       G  - gRIBI, RC - Route Cache Route
"""


def _short(name: str, platform: str) -> str:
    if platform == "eos":
        return name.replace("Ethernet", "Et").replace("Management", "Ma")
    return name.replace("Ethernet", "Eth").replace("loopback", "Lo")


def eos_lldp_neighbors(root: Node) -> str:
    out = ["Last table change time   : 0:12:41 ago", "Number of table inserts  : 0", "Number of table deletes  : 0",
           "Number of table drops    : 0", "Number of table age-outs : 0", "",
           "Port          Neighbor Device ID       Neighbor Port ID    TTL",
           "------------- ------------------------ ------------------- ---"]
    found = facts.neighbors(facts.interfaces(root, 65535))
    out[1] = f"Number of table inserts  : {len(found)}"
    for n, (item, host) in enumerate(found, 1):
        out.append(f"{_short(item.name, 'eos'):<14}{host:<25}{f'Ethernet{n}':<20}120")
    return "\n".join(out) + "\n"


def eos_ip_route(root: Node) -> str:
    table = [r for r in facts.routes(root, facts.interfaces(root, 65535)) if r.code != "L"]
    default = next((r for r in table if r.code == "S" and r.prefix.prefixlen == 0), None)
    out = [EOS_CODES, f"Gateway of last resort:\n S      0.0.0.0/0 [1/0] via {default.next_hop}, {default.interface}\n"
           if default else "Gateway of last resort is not set\n"]
    for route in table:
        if route is default:
            continue  # shown once, as the gateway of last resort
        if route.code == "S":
            out.append(f" S      {route.prefix} [1/0] via {route.next_hop}, {route.interface}")
        else:
            out.append(f" C      {route.prefix} is directly connected, {route.interface}")
    return "\n".join(out) + "\n"


def eos_ip_bgp_summary(root: Node) -> str:
    config = facts.bgp(root, facts.interfaces(root, 65535))
    if config is None:
        return "% BGP inactive\n"
    asn, router_id, peers = config
    out = ["BGP summary information for VRF default", f"Router identifier {router_id}, local AS number {asn}",
           "Neighbor Status Codes: m - Under maintenance",
           "  Description              Neighbor         V AS           MsgRcvd   MsgSent  InQ OutQ  Up/Down "
           "State   PfxRcd PfxAcc"]
    for peer in peers:
        state = "Idle(Admin)" if peer.shutdown else "Active"
        out.append(f"  {peer.description[:24]:<25}{peer.address:<17}4 {peer.remote_as:<13}      0         0    0    0"
                   f" 00:00:00 {state}")
    return "\n".join(out) + "\n"


def access_lists(root: Node, name: str, title: str, indent: int, gap: bool = True) -> str:
    """EOS ``IP Access List X`` / NX-OS ``IP access list X``, entries with their numbers."""
    out = []
    for node in root.children:
        words = node.text.split()
        if words[:2] != ["ip", "access-list"] or len(words) < 3 or (name and words[-1] != name):
            continue
        out.append(f"{title} {words[-1]}")
        for child in node.children:
            seq, body = acl.split(child.text)
            if seq is not None and body.startswith(("permit", "deny", "remark")):
                out.append(" " * indent + child.text)
        if gap:
            out.append("")
    return "".join(f"{line}\n" for line in out)


def nxos_neighbors(root: Node, protocol: str) -> str:
    found = facts.neighbors(facts.interfaces(root, 1500))
    if protocol == "cdp":
        out = ["Capability Codes: R - Router, T - Trans-Bridge, B - Source-Route-Bridge",
               "                  S - Switch, H - Host, I - IGMP, r - Repeater,",
               "                  V - VoIP-Phone, D - Remotely-Managed-Device,",
               "                  s - Supports-STP-Dispute", "",
               "Device-ID          Local Intrfce  Hldtme Capability  Platform      Port ID"]
        for n, (item, host) in enumerate(found, 1):
            out.append(f"{host:<19}{_short(item.name, 'nxos'):<15}{179 - n:<7}R S I s     {'N9K-C9300v':<14}Eth1/{n}")
    else:
        out = ["Capability codes:", "  (R) Router, (B) Bridge, (T) Telephone, (C) DOCSIS Cable Device",
               "  (W) WLAN Access Point, (P) Repeater, (S) Station, (O) Other",
               "Device ID            Local Intf      Hold-time  Capability  Port ID  "]
        for n, (item, host) in enumerate(found, 1):
            out.append(f"{host:<21}{_short(item.name, 'nxos'):<16}{120:<11}{'BR':<12}Ethernet1/{n}")
    out.append(f"{'' if protocol == 'lldp' else chr(10)}Total entries displayed: {len(found)}")
    return "\n".join(out) + "\n"


def nxos_ip_route(root: Node) -> str:
    table = facts.routes(root, facts.interfaces(root, 1500))
    out = ['IP Route Table for VRF "default"', "'*' denotes best ucast next-hop", "'**' denotes best mcast next-hop",
           "'[x/y]' denotes [preference/metric]", "'%<string>' in via output denotes VRF <string>", ""]
    by_prefix: dict[str, list[facts.Route]] = {}
    for route in table:
        by_prefix.setdefault(str(route.prefix), []).append(route)
    for prefix, routes in by_prefix.items():
        attached = any(r.code in ("C", "L") for r in routes)
        vias = []
        for route in routes:
            iface = _short(route.interface, "nxos")
            if route.code == "S":
                vias.append(f"    *via {route.next_hop}, [1/0], 3d02h, static")
            elif route.code == "L":
                vias.append(f"    *via {prefix.split('/')[0]}, {iface}, [0/0], 3d02h, local")
            else:
                address = next(a.ip for i in facts.interfaces(root, 1500) if i.name == route.interface
                               for a in i.addresses if a.network == route.prefix)
                if route.prefix.prefixlen == 32:
                    vias.append(f"    *via {address}, {iface}, [0/0], 3d02h, local")
                vias.append(f"    *via {address}, {iface}, [0/0], 3d02h, direct")
        out.append(f"{prefix}, ubest/mbest: {len(vias)}/0{', attached' if attached else ''}")
        out.extend(vias)
    return "\n".join(out) + "\n"


def nxos_ip_bgp_summary(root: Node) -> str:
    config = facts.bgp(root, facts.interfaces(root, 1500))
    if config is None:
        return "% BGP not enabled\n"  # `feature bgp` missing: the command is not there at all
    asn, router_id, peers = config
    out = ["BGP summary information for VRF default, address family IPv4 Unicast",
           f"BGP router identifier {router_id}, local AS number {asn}",
           f"BGP table version is 1, IPv4 Unicast config peers {len(peers)}, capable peers 0",
           "0 network entries and 0 paths using 0 bytes of memory",
           "BGP attribute entries [0/0], BGP AS path entries [0/0]",
           "BGP community entries [0/0], BGP clusterlist entries [0/0]", "",
           "Neighbor        V    AS    MsgRcvd    MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd"]
    for peer in peers:
        state = "Shut (Admin)" if peer.shutdown else "Idle"
        out.append(f"{peer.address:<16}4 {peer.remote_as:<10}      0          0        0    0    0 3d02h    {state}")
    return "\n".join(out) + "\n"


def nxos_inventory(serial: str) -> str:
    return (f'NAME: "Chassis",  DESCR: "Nexus9000 C9300v Chassis"\nPID: N9K-C9300v          ,  VID:     ,  SN: {serial}'
            f'\n\nNAME: "Slot 1",  DESCR: "Nexus 9000v 64 port Ethernet Module"\nPID: N9K-X9364v          ,  VID:     ,'
            f"  SN: {serial}\n\n")


def _hw(index: int, n: int) -> str:
    value = f"5254{index * 16 + n:08x}"
    return ".".join(value[i:i + 4] for i in range(0, 12, 4))


def eos_interfaces(root: Node, index: int) -> str:
    out = []
    for n, item in enumerate(facts.interfaces(root, 65535)):
        state = "up, line protocol is up (connected)" if item.up else "administratively down, line protocol is " \
            "down (disabled)"
        out.append(f"{item.name} is {state}")
        kind = "Loopback" if item.loopback else "Ethernet"
        out.append(f"  Hardware is {kind}" + ("" if item.loopback else f", address is {_hw(index, n)}"))
        if item.description:
            out.append(f"  Description: {item.description}")
        for address in item.addresses[:1]:
            out += [f"  Internet address is {address.with_prefixlen}", "  Broadcast address is 255.255.255.255",
                    "  Address determined by manual configuration"]
        out.append(f"  IP MTU {item.mtu} bytes" + ("" if item.loopback else " , BW 1000000 kbit"))
        if not item.loopback:
            out += ["  Full-duplex, 1Gb/s, auto negotiation: off, uni-link: n/a",
                    "  Up 3 days, 2 hours, 5 minutes, 1 second" if item.up else "  Down 3 days, 2 hours",
                    "  1 link status changes since last clear",
                    '  Last clearing of "show interface" counters never',
                    "  5 minutes input rate 0 bps (0.0% with framing overhead), 0 packets/sec",
                    "  5 minutes output rate 0 bps (0.0% with framing overhead), 0 packets/sec",
                    "     0 packets input, 0 bytes", "     Received 0 broadcasts, 0 multicast",
                    "     0 runts, 0 giants", "     0 input errors, 0 CRC, 0 alignment, 0 symbol, 0 input discards",
                    "     0 PAUSE input", "     0 packets output, 0 bytes", "     Sent 0 broadcasts, 0 multicast",
                    "     0 output errors, 0 collisions", "     0 late collision, 0 deferred, 0 output discards",
                    "     0 PAUSE output"]
    return "\n".join(out) + "\n"


def eos_inventory(serial: str, ports: int) -> str:
    return ("System information\n  Model                    Description\n"
            "  ------------------------ ----------------------------------------------------\n"
            "  vEOS-lab                 Arista vEOS\n\n  HW Version  Serial Number  Mfg Date\n"
            f"  ----------- -------------- ----------\n  11.00       {serial}     2022-03-01\n\n"
            "System has 0 power supply slots\n\nSystem has 0 fan modules\n\n"
            f"System has {ports} ports\n  Type             Count\n  ---------------- ----\n"
            f"  Switched         {ports}\n\nSystem has 0 transceiver slots\n")


def nxos_interfaces(root: Node, index: int) -> str:
    out = []
    for n, item in enumerate(facts.interfaces(root, 1500)):
        if item.loopback:
            out += [f"{item.name} is {'up' if item.up else 'down (Administratively down)'}",
                    f"admin state is {'up' if item.up else 'down'},", "  Hardware: Loopback"]
        else:
            out += [f"{item.name} is {'up' if item.up else 'down (Administratively down)'}",
                    f"admin state is {'up' if item.up else 'down'}, Dedicated Interface",
                    f"  Hardware: 100/1000/10000 Ethernet, address: {_hw(index, n)} (bia {_hw(index, n)})"]
        if item.description:
            out.append(f"  Description: {item.description}")
        for address in item.addresses[:1]:
            out.append(f"  Internet Address is {address.with_prefixlen}")
        out += [f"  MTU {item.mtu} bytes, BW {8000000 if item.loopback else 1000000} Kbit, DLY "
                f"{5000 if item.loopback else 10} usec", "  reliability 255/255, txload 1/255, rxload 1/255",
                f"  Encapsulation {'LOOPBACK' if item.loopback else 'ARPA, medium is broadcast'}"]
        if not item.loopback:
            out += ["  full-duplex, 1000 Mb/s", "  Auto-Negotiation is turned on", "  Auto-mdix is turned off",
                    "  EtherType is 0x8100", '  Last clearing of "show interface" counters never',
                    "  1 minute input rate 0 bits/sec, 0 packets/sec",
                    "  1 minute output rate 0 bits/sec, 0 packets/sec"]
        out.append("")
    return "\n".join(out) + "\n"
