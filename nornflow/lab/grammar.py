"""What an IOS-like device knows about its own commands: which mode takes a line, and where it shows it.

A real device ignores indentation: it tries a line in the current sub-mode and, if that mode has
no such command, in the mode above, up to global config; and it prints its configuration in a
fixed order (NVGEN order on IOS), not in the order lines were typed. The lab approximates both with
a little data per platform: the words each common sub-mode takes (:data:`VOCABULARY`), and ranks
that say where a new line goes among its siblings (:class:`Grammar` ``ranks``). Grounded in real
configurations: the batfish project's example IOS 15.2 networks (``networks/example/live``),
Arista AVD's EOS configuration documentation, and ntc-templates' captured outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The words each kind of sub-mode takes, as line prefixes (``no``/``default`` already stripped).
#: A flat line a mode does not take leaves it for the mode above, as on the device.
INTERFACE = (
    "description", "ip", "ipv6", "shutdown", "switchport", "speed", "duplex", "mtu", "bandwidth", "delay",
    "encapsulation", "vrf", "standby", "vrrp", "hsrp", "channel-group", "spanning-tree", "service-policy",
    "mpls", "cdp", "lldp", "load-interval", "media-type", "negotiation", "keepalive", "tunnel", "carrier-delay",
    "storm-control", "arp", "mac-address", "isis", "bfd", "udld", "logging event", "snmp trap", "dampening",
    "hold-queue", "ppp", "crypto map", "zone-member", "flowcontrol", "mls", "qos", "authentication", "dot1x",
    "mab", "private-vlan", "lacp", "rate-limit", "xconnect", "service instance", "clock rate", "pim",
    "nameif", "security-level", "evpn", "vlan", "member", "ospf", "router", "peer-gateway", "vpc", "medium",
    "link", "fabric", "errdisable", "priority-flow-control", "power", "poe", "source-interface",
    "autostate", "management", "switchport", "channel-protocol", "port-channel", "storm", "sflow",
)
IP_GLOBAL = (  # `ip ...` lines that exist only in global config (an interface takes other `ip` words)
    "ip route", "ip prefix-list", "ip access-list", "ip domain", "ip domain-name", "ip domain-lookup",
    "ip name-server", "ip ssh", "ip http", "ip scp", "ip sla", "ip forward-protocol", "ip community-list",
    "ip as-path", "ip bgp-community", "ip cef", "ip routing", "ip multicast-routing", "ip dhcp pool",
    "ip dhcp excluded-address", "ip tacacs", "ip radius", "ip host", "ip tcp synwait-time", "ip igmp snooping",
    "ip icmp", "ip vrf", "ip source-route", "ip finger", "ip ftp", "ip tftp", "ip explicit-path", "ip nat pool",
    "ip nat inside source", "ip nat outside source", "ip default-gateway", "ip name", "ip load-sharing",
    "ip virtual-router", "ip arp", "ip extcommunity-list", "ip pim rp-address", "ip pim ssm",
    "ipv6 route", "ipv6 unicast-routing", "ipv6 prefix-list", "ipv6 access-list", "ipv6 cef",
)
BGP = (
    "bgp", "neighbor", "network", "redistribute", "aggregate-address", "address-family", "timers",
    "maximum-paths", "distance", "synchronization", "auto-summary", "default-information", "default-metric",
    "table-map", "template", "router-id", "vrf", "rd", "route-target", "graceful-restart", "update", "ucmp",
    "log-neighbor-changes", "shutdown", "vlan", "vlan-aware-bundle", "import", "export", "bestpath",
    "dynamic", "peer",
)
NEIGHBOR_AF = (
    "route-map", "send-community", "next-hop-self", "soft-reconfiguration", "allowas-in", "route-reflector-client",
    "prefix-list", "maximum-prefix", "default-originate", "filter-list", "weight", "as-override",
    "disable-peer-as-check", "activate", "remove-private-as", "unsuppress-map", "advertisement-interval",
)
VOCABULARY: dict[str, tuple[str, ...]] = {
    "interface": INTERFACE,
    "router bgp": BGP,
    "address-family": (*BGP, *NEIGHBOR_AF),
    "neighbor": ("remote-as", "description", "update-source", "address-family", "shutdown", "password", "timers",
                 "ebgp-multihop", "local-as", "inherit", "bfd", "remove-private-as", "log-neighbor-changes",
                 "transport", "dynamic-capability", "capability", "low-memory", "maximum-peers", "peer-type"),
    "router ospf": (
        "router-id", "network", "passive-interface", "redistribute", "area", "default-information",
        "log-adjacency-changes", "auto-cost", "timers", "max-lsa", "maximum-paths", "distance", "bfd", "ispf",
        "summary-address", "distribute-list", "max-metric", "shutdown", "capability", "nsf", "graceful-restart",
        "compatible", "default-metric", "prefix-suppression", "mpls",
    ),
    "line": (
        "transport", "login", "password", "exec-timeout", "privilege", "logging synchronous", "stopbits",
        "session-timeout", "access-class", "length", "width", "history", "speed", "flowcontrol", "autoselect",
        "modem", "escape-character", "exec", "motd-banner", "absolute-timeout", "authorization", "accounting",
        "rotary", "databits", "parity", "location", "ipv6 access-class", "vrf", "exec-timeout",
    ),
    "ip access-list": ("permit", "deny", "remark", "statistics", "fragments", "evaluate", "dynamic",
                       "counters", "resequence"),
    "ipv6 access-list": ("permit", "deny", "remark", "sequence", "statistics", "fragments", "evaluate"),
    "mac access-list": ("permit", "deny", "remark", "statistics"),
    "route-map": ("match", "set", "description", "continue"),
}

#: Where IOS prints a line among its siblings, by section kind (earlier prefix, earlier line). From
#: real IOS 15.2 configurations (batfish's example networks) and what IOS is known to print.
IOS_RANKS: dict[str, tuple[str, ...]] = {
    "": (
        "version", "service", "no service", "hostname", "boot-start-marker", "boot", "boot-end-marker",
        "vrf definition", "logging buffered", "logging console", "enable", "aaa", "no aaa", "clock",
        "ip vrf", "ip domain", "no ip domain", "ip name-server", "ip cef", "ipv6", "multilink", "username",
        "redundancy", "interface", "router", "ip forward-protocol", "ip bgp-community", "ip community-list",
        "ip as-path", "ip http", "no ip http", "ip route", "ip ssh", "ip access-list", "ip prefix-list",
        "logging", "access-list", "route-map", "snmp-server engineID", "snmp-server group", "snmp-server view",
        "snmp-server community", "snmp-server trap-source", "snmp-server source-interface", "snmp-server location",
        "snmp-server contact", "snmp-server enable", "snmp-server host", "snmp-server", "control-plane", "banner",
        "line",
    ),
    "interface": (
        "description", "bandwidth", "switchport", "vrf forwarding", "ip vrf forwarding",
        "ip address * secondary", "ip address", "no ip address", "ip helper-address", "ip access-group",
        "no ip redirects", "no ip unreachables", "no ip proxy-arp", "ip nat", "ip verify", "ip flow", "ip pim",
        "ip igmp", "ip ospf", "ip policy", "ip tcp adjust-mss", "ipv6", "standby", "vrrp", "load-interval",
        "shutdown", "media-type", "speed", "duplex", "negotiation", "mpls", "cdp", "no cdp", "channel-group",
        "spanning-tree", "service-policy",
    ),
    "router bgp": ("bgp router-id", "bgp", "no bgp", "timers", "neighbor", "network", "redistribute",
                   "aggregate-address", "address-family"),
    "address-family": ("bgp", "network", "redistribute", "aggregate-address", "neighbor", "maximum-paths",
                       "distance", "exit-address-family"),
    "router ospf": ("router-id", "log-adjacency-changes", "auto-cost", "area", "redistribute",
                    "passive-interface", "no passive-interface", "network", "default-information", "distance"),
    "line": ("exec-timeout", "privilege", "password", "logging", "login", "stopbits", "transport"),
}
#: EOS prints an interface's lines in this order (Arista AVD's eos_cli_config_gen documentation,
#: which mirrors EOS's own `show running-config`).
EOS_RANKS: dict[str, tuple[str, ...]] = {
    "interface": ("description", "shutdown", "no shutdown", "load-interval", "mtu", "speed", "switchport",
                  "no switchport", "vrf", "ip address", "ipv6", "ip ospf", "pim", "bfd", "channel-group",
                  "spanning-tree", "service-policy"),
    "router bgp": ("router-id", "no bgp", "bgp", "distance", "graceful-restart", "maximum-paths", "timers",
                   "neighbor", "redistribute", "network", "address-family", "vrf"),
    "address-family": ("bgp", "neighbor", "network", "redistribute"),
}
NXOS_TOP = (
    "version", "hostname", "vdc", "feature", "username", "ip domain-lookup", "ip domain-name", "ip access-list",
    "snmp-server", "ntp", "ip route", "vlan", "vrf context", "interface", "line", "router",
)
#: NX-OS prints `no shutdown` last in an interface (its captured running configurations).
NXOS_RANKS: dict[str, tuple[str, ...]] = {
    "": NXOS_TOP,
    "interface": ("description", "switchport", "no switchport", "mtu", "vrf member", "ip address", "ipv6",
                  "ip router", "ip ospf", "ip pim", "channel-group", "vpc", "shutdown", "no shutdown"),
}
#: The order IOS and EOS print one BGP neighbor's lines in (peer-group first, `in` before `out`).
NEIGHBOR_ORDER = (
    "peer-group", "peer group", "remote-as", "local-as", "description", "shutdown", "ebgp-multihop",
    "password", "update-source", "timers", "fall-over", "bfd", "activate", "send-community",
    "route-reflector-client", "next-hop-self", "remove-private-as", "soft-reconfiguration", "allowas-in",
    "default-originate", "advertise", "distribute-list", "prefix-list", "filter-list", "route-map",
    "maximum-prefix", "maximum-routes",
)


def kind(text: str) -> str:
    """The kind of section a line opens: ``interface``, ``router bgp``, ``ip access-list``... or the line."""
    for prefix in ("router bgp", "router ospf", "ip access-list", "ipv6 access-list", "mac access-list",
                   "address-family", "vrf definition", "vrf context"):
        if text.startswith(prefix):
            return prefix
    return text.split(" ", 1)[0] if text else ""


def starts(text: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if text == p or text.startswith(p + " ")), None)


def rank(ranks: tuple[str, ...], text: str) -> int | None:
    """The index of the first prefix of ``ranks`` that ``text`` starts with (``*`` matches one word)."""
    for i, prefix in enumerate(ranks):
        if "*" in prefix:
            head, tail = prefix.split(" * ", 1)
            if text.startswith(head + " ") and text.endswith(" " + tail):
                return i
        elif text == prefix or text.startswith(prefix + " "):
            return i
    return None


def _neighbor_attr(text: str) -> int:
    rest = text.split(" ", 2)[2] if text.count(" ") >= 2 else ""
    base = rank(NEIGHBOR_ORDER, rest)
    position = len(NEIGHBOR_ORDER) if base is None else base
    return 2 * position + (1 if rest.endswith(" out") else 0)


@dataclass(frozen=True)
class Grammar:
    """One platform's ordering and sequence-number habits (IOS, EOS, NX-OS)."""

    name: str
    ranks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    acl_seq_shown: bool = True  # EOS and NX-OS print ACL sequence numbers in show running-config; IOS 15 not
    acl_sections: tuple[str, ...] = ("ip access-list", "ipv6 access-list", "mac access-list")
    deny_padded: bool = False  # IOS prints `deny   ip ...` in named ACLs, aligned under `permit`
    prefix_list_step: int = 0  # IOS and NX-OS number `ip prefix-list` lines typed without `seq` (5, 10, ...)
    exit_address_family: bool = False  # IOS prints ` exit-address-family` after each address-family block
    nested: tuple[str, ...] = ("address-family", "template", "neighbor-group", "class", "key")  # sub-sub-modes
    hidden_defaults: tuple[str, ...] = ("shutdown",)  # `no shutdown` is the default IOS and EOS do not print

    def is_acl(self, text: str) -> bool:
        return starts(text, self.acl_sections) is not None

    def position(self, siblings: list[str], parent: str, text: str) -> int | None:
        """Where ``text`` goes among ``siblings`` (texts) under ``parent``; None: at the end."""
        if text.startswith("neighbor ") and kind(parent) in ("router bgp", "address-family"):
            peer = " ".join(text.split(" ", 2)[:2]) + " "
            mine = [i for i, s in enumerate(siblings) if s.startswith(peer)]
            if mine:
                attr = _neighbor_attr(text)
                later = [i for i in mine if _neighbor_attr(siblings[i]) > attr]
                return later[0] if later else mine[-1] + 1
        if text.startswith(("route-map ", "ip prefix-list ")):
            words = text.split()
            name = 2 if words[0] == "route-map" else 3
            same = [i for i, s in enumerate(siblings) if s.split()[:name] == words[:name] and len(words) > name]
            seq = _seq(words)
            if same and seq is not None:
                later = [i for i in same if (_seq(siblings[i].split()) or 0) > seq]
                return later[0] if later else same[-1] + 1
        ranks = self.ranks.get("" if not parent else kind(parent))
        if not ranks:
            return None
        mine_rank = rank(ranks, text)
        if mine_rank is None:
            return None
        for i, sibling in enumerate(siblings):
            other = rank(ranks, sibling)
            if other is not None and other > mine_rank:
                return i
        return None


def _seq(words: list[str]) -> int | None:
    """The sequence number of a ``route-map NAME ACTION SEQ`` or ``ip prefix-list NAME seq N`` line."""
    if words[0] == "route-map":
        return int(words[3]) if len(words) > 3 and words[3].isdigit() else None
    if len(words) > 4 and words[3] == "seq" and words[4].isdigit():
        return int(words[4])
    return None


IOS = Grammar("ios", IOS_RANKS, acl_seq_shown=False, acl_sections=("ip access-list",), deny_padded=True,
              prefix_list_step=5, exit_address_family=True)
EOS = Grammar("eos", EOS_RANKS)
NXOS = Grammar("nxos", NXOS_RANKS, prefix_list_step=5, hidden_defaults=(),
               nested=("address-family", "template", "neighbor", "vrf", "class", "key"))  # NX-OS prints `no shutdown`
