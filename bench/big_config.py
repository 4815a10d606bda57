"""A big IOS configuration in the style of a real edge router, for benchmarks of big configs.

The shape follows the real configs of the test corpus (tests/fixtures/real_configs, batfish's
example network): customer sub-interfaces with an inbound ACL, extended ACLs, prefix-lists,
route-maps and a BGP table of neighbours with their address-family lines. Sizes scale so the
text has about ``lines`` lines; the lab device's own baseline (its hostname, addresses and login
lines) stays at the top, so the device stays reachable and a template can reproduce the text.
"""

from __future__ import annotations


def _subinterfaces(count: int) -> list[str]:
    out = []
    for n in range(count):
        vlan = 100 + n
        out += [f"interface Ethernet1/0.{vlan}", f" description customer {n + 1} circuit CID-{40000 + n}",
                f" encapsulation dot1Q {vlan}", f" ip address 172.16.{n // 64}.{(n % 64) * 4 + 1} 255.255.255.252",
                " ip access-group CUSTOMER-IN in", "!"]
    return out


def _acls(count: int, entries: int) -> list[str]:
    out = []
    for n in range(count):
        out.append(f"ip access-list extended EDGE-{n + 1}")
        for e in range(entries - 1):
            out.append(f" permit tcp 10.{n}.{e // 250}.0 0.0.0.255 host 192.0.2.{e % 250 + 1} eq {1000 + e}")
        out += [" deny   ip any any log", "!"]
    out += ["ip access-list extended CUSTOMER-IN", " deny   ip 10.0.0.0 0.255.255.255 any", " permit ip any any", "!"]
    return out


def _prefix_lists(count: int) -> list[str]:
    return [f"ip prefix-list CUSTOMERS seq {5 * (n + 1)} permit 198.18.{n // 256 % 256}.{n % 256}/32"
            for n in range(count)] + ["!"]


def _route_maps(count: int) -> list[str]:
    out = []
    for n in range(count):
        out += [f"route-map CUST-{n + 1}-IN permit 10", " match ip address prefix-list CUSTOMERS",
                f" set local-preference {100 + n}", f" set community 65000:{n + 1}", "!"]
    return out


def _bgp(neighbors: int) -> list[str]:
    out = ["router bgp 65000", " bgp log-neighbor-changes"]
    peers = [f"203.0.{n // 250}.{n % 250 + 1}" for n in range(neighbors)]
    for n, peer in enumerate(peers):
        out += [f" neighbor {peer} remote-as {64512 + n}", f" neighbor {peer} description customer {n + 1}"]
    out.append(" !")
    out.append(" address-family ipv4")
    for n, peer in enumerate(peers):
        out += [f"  neighbor {peer} activate", f"  neighbor {peer} route-map CUST-{n + 1}-IN in"]
    out += [" exit-address-family", "!"]
    return out


def big_ios_config(baseline: str, lines: int) -> str:
    """``baseline`` (a lab device's config, ending with ``end``) grown to about ``lines`` lines."""
    scale = max(lines, 200) / 5000
    body = [*_subinterfaces(int(330 * scale)), *_acls(int(21 * scale) or 1, 40), *_prefix_lists(int(1000 * scale)),
            *_route_maps(int(130 * scale)), *_bgp(int(130 * scale))]
    head = baseline.rstrip("\n").removesuffix("end").rstrip("\n")
    return "\n".join([head, "!", *body, "end"]) + "\n"
