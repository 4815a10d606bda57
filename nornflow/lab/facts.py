"""What an IOS-like device's show commands report, read from its configuration tree.

A lab device has no traffic and no peers, so its operational state is what its configuration
implies: an interface is up unless it is ``shutdown``, connected and local routes come from its
addresses, a static route is installed when its next hop is on a connected subnet, a BGP
neighbor is configured but never established (``Idle``), and the neighbor seen over CDP/LLDP on an
up port is the host its description names. The show modules format these facts per platform.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from nornflow.lab.tree import Node


@dataclass
class Interface:
    name: str
    description: str = ""
    addresses: list[ipaddress.IPv4Interface] = field(default_factory=list)  # primary first
    up: bool = True
    mtu: int = 1500

    @property
    def physical(self) -> bool:
        return not self.name.lower().startswith(("loopback", "vlan", "tunnel", "port-channel", "null", "nve"))

    @property
    def loopback(self) -> bool:
        return self.name.lower().startswith("loopback")


@dataclass(frozen=True)
class Route:
    code: str  # C, L, S
    prefix: ipaddress.IPv4Network
    interface: str = ""
    next_hop: str = ""
    distance: int = 0


@dataclass(frozen=True)
class Peer:
    address: str
    remote_as: str
    description: str = ""
    shutdown: bool = False


def _address(words: list[str]) -> ipaddress.IPv4Interface | None:
    """``ip address 10.0.0.1 255.255.255.0`` (IOS) or ``ip address 10.0.0.1/24`` (EOS, NX-OS)."""
    try:
        if len(words) >= 4 and "." in words[3] and "/" not in words[2]:
            return ipaddress.IPv4Interface(f"{words[2]}/{words[3]}")
        return ipaddress.IPv4Interface(words[2])
    except (ValueError, IndexError):
        return None


def interfaces(root: Node, loopback_mtu: int = 1514) -> list[Interface]:
    found = []
    for node in root.children:
        if not node.text.startswith("interface "):
            continue
        item = Interface(node.text.split(None, 1)[1])
        if item.loopback:
            item.mtu = loopback_mtu
        secondary: list[ipaddress.IPv4Interface] = []
        for child in node.children:
            words = child.text.split()
            if child.text.startswith("description "):
                item.description = child.text.split(None, 1)[1]
            elif child.text == "shutdown":
                item.up = False
            elif words[:1] == ["mtu"] and len(words) == 2 and words[1].isdigit():
                item.mtu = int(words[1])
            elif words[:2] == ["ip", "address"]:
                address = _address(words)
                if address is not None:
                    (secondary if words[-1] == "secondary" else item.addresses).append(address)
        item.addresses.extend(secondary)
        found.append(item)
    return found


def routes(root: Node, found: list[Interface]) -> list[Route]:
    """The default VRF's connected, local and static routes, sorted by prefix."""
    table: list[Route] = []
    connected: list[tuple[ipaddress.IPv4Network, str]] = []
    for item in found:
        if not item.up:
            continue
        for address in item.addresses:
            connected.append((address.network, item.name))
            table.append(Route("C", address.network, item.name))
            if address.network.prefixlen < 32:
                table.append(Route("L", ipaddress.IPv4Network(f"{address.ip}/32"), item.name))
    for node in root.children:
        words = node.text.split()
        if words[:2] != ["ip", "route"] or len(words) < 4:
            continue
        try:
            if "/" in words[2]:
                prefix, hop = ipaddress.IPv4Network(words[2], strict=False), words[3]
            else:
                prefix, hop = ipaddress.IPv4Network(f"{words[2]}/{words[3]}", strict=False), words[4]
            via = ipaddress.IPv4Address(hop)
        except (ValueError, IndexError):
            continue
        out = next((name for net, name in connected if via in net), None)
        if out is not None:  # the device installs a static route only when its next hop resolves
            table.append(Route("S", prefix, out, hop, 1))
    return sorted(table, key=lambda r: (int(r.prefix.network_address), r.prefix.prefixlen, r.code != "C"))


def bgp(root: Node, found: list[Interface]) -> tuple[str, str, list[Peer]] | None:
    """(local AS, router id, peers) of ``router bgp``; None when BGP is not configured."""
    section = next((c for c in root.children if c.text.startswith("router bgp ")), None)
    if section is None:
        return None
    asn = section.text.split()[2]
    router_id = ""
    groups: dict[str, str] = {}
    peers: dict[str, dict[str, str]] = {}
    for child in section.children:
        words = child.text.split()
        if words[:2] == ["bgp", "router-id"] or words[:1] == ["router-id"]:
            router_id = words[-1]
        if words[:1] != ["neighbor"] or len(words) < 2:
            continue
        name = words[1]
        attrs = dict(_neighbor_attr(c.text.split()) for c in child.children) if child.children else {}
        if len(words) > 2:
            attrs.update([_neighbor_attr(words[2:])])
        if not _is_ip(name):
            groups.update({name: attrs["remote-as"]} if "remote-as" in attrs else {})
            continue
        peers.setdefault(name, {}).update(attrs)
    if not router_id:
        loopbacks = [a.ip for i in found if i.loopback and i.up for a in i.addresses]
        others = [a.ip for i in found if i.up for a in i.addresses]
        router_id = str(max(loopbacks or others or [ipaddress.IPv4Address("0.0.0.0")]))  # noqa: S104
    result = []
    for address, attrs in peers.items():
        remote = attrs.get("remote-as") or groups.get(attrs.get("peer-group", ""), "")
        result.append(Peer(address, remote, attrs.get("description", ""), "shutdown" in attrs))
    return asn, router_id, sorted(result, key=lambda p: ipaddress.IPv4Address(p.address))


def _neighbor_attr(words: list[str]) -> tuple[str, str]:
    if words[:2] == ["peer", "group"]:
        return "peer-group", " ".join(words[2:])
    return words[0], " ".join(words[1:])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def neighbors(found: list[Interface]) -> list[tuple[Interface, str]]:
    """(local interface, neighbor name) per up physical port whose description names a host."""
    seen = []
    for item in found:
        if not (item.up and item.physical and item.description):
            continue
        words = item.description.replace(",", " ").split()
        host = next((w for w in reversed(words) if "-" in w or "." in w), None)
        if host is not None:
            seen.append((item, host))
    return seen
