"""A simulated device's running configuration: an IOS-style tree that config-mode lines edit.

Real devices know which commands open a sub-mode and which words replace an earlier value;
the lab approximates that with a little data per platform, enough for remediations that
hier-config writes (indented children, ``no <line>``, ``exit``/``end``) and for engineers who
type flat lines (``interface Ethernet1`` then ``description x``). It is a test double, not
a parser of every IOS command: an unindented ``ip ...`` line typed inside an interface stays
in the interface, as its indentation-free form is ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Words that, at the top level, open a sub-mode (their children follow, indented).
SECTIONS = (
    "interface", "router", "line", "vlan", "vrf definition", "vrf instance", "ip access-list",
    "ipv6 access-list", "route-map",
    "class-map", "policy-map", "management", "archive", "redundancy", "control-plane", "ip vrf",
    "key chain", "crypto", "spanning-tree mst configuration", "aaa group", "monitor session",
    "vrf context", "vdc",
)
#: Words that open a nested sub-mode inside a section.
NESTED_SECTIONS = ("address-family", "template", "neighbor-group", "class", "key")
#: Top-level statements that leave any sub-mode when typed without indentation (as IOS does).
GLOBAL_WORDS = (
    "hostname", "ntp", "logging", "username", "aaa", "snmp-server", "service", "clock", "boot",
    "spanning-tree", "banner", "enable", "lldp", "cdp", "transceiver", "agent", "end", "errdisable",
)
#: Lines that replace an earlier line starting with the same words, not add to it.
SINGLE_VALUE = (
    "hostname ", "description ", "snmp-server location ", "snmp-server contact ", "mtu ",
    "ip domain name ", "ip domain-name ", "clock timezone ", "router-id ", "switchport mode ",
    "switchport access vlan ", "speed ", "duplex ", "logging buffered ", "ip address ",
)
MODE_NAMES = {
    "interface": "if", "router": "router", "line": "line", "vlan": "vlan", "route-map": "route-map",
    "address-family": "router-af", "management": "mgmt", "ip access-list": "ext-nacl",
    "vrf context": "vrf",
}


def _starts(text: str, words: tuple[str, ...]) -> str | None:
    return next((w for w in words if text == w or text.startswith(w + " ")), None)


@dataclass
class Node:
    """One configuration line and the lines under it."""

    text: str
    children: list[Node] = field(default_factory=list)

    def clone(self) -> Node:
        """A deep copy (several times faster than ``copy.deepcopy``)."""
        return Node(self.text, [c.clone() for c in self.children])

    def find(self, text: str) -> Node | None:
        return next((c for c in self.children if c.text == text), None)

    def add(self, text: str) -> Node:
        """Add ``text`` (or return the existing line); replace single-value lines and ``no`` forms."""
        found = self.find(text)
        if found is not None:
            return found
        single = next((p for p in SINGLE_VALUE if text.startswith(p)), None)
        replace_at = None
        if single is not None and not text.endswith(" secondary"):
            for i, child in enumerate(self.children):
                if child.text.startswith(single) and not child.text.endswith(" secondary"):
                    replace_at = i
                    break
        self.children = [c for c in self.children
                         if not (c.text.startswith("no ") and text.startswith(c.text[3:]))]
        node = Node(text)
        if replace_at is not None and replace_at < len(self.children):
            self.children[replace_at] = node
        else:
            self.children.append(node)
        return node

    def remove(self, text: str) -> bool:
        """``no <text>``: drop that line, or every line that starts with its words; False if none."""
        before = len(self.children)
        exact = [c for c in self.children if c.text == text]
        doomed = exact or [c for c in self.children if c.text.startswith(text + " ")]
        self.children = [c for c in self.children if c not in doomed]
        return len(self.children) != before


def parse(text: str) -> Node:
    """Build the tree from configuration text; ``!``, blank and ``end`` lines carry no meaning."""
    root = Node("")
    stack: list[tuple[Node, int]] = [(root, -1)]
    for raw in text.replace("\r\n", "\n").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("!") or stripped == "end":
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while stack[-1][1] >= indent:
            stack.pop()
        node = Node(stripped)
        stack[-1][0].children.append(node)
        stack.append((node, indent))
    return root


def render(root: Node, indent: int = 1) -> str:
    """Configuration text as the device shows it: sections separated by ``!``, ``end`` last."""
    lines: list[str] = []

    def walk(node: Node, depth: int) -> None:
        for child in node.children:
            lines.append(" " * (indent * depth) + child.text)
            walk(child, depth + 1)

    for child in root.children:
        lines.append(child.text)
        walk(child, 1)
        if child.children:
            lines.append("!")
    return "\n".join([*lines, "end"]) + "\n"


class ConfigSession:
    """One ``configure terminal`` session: where the next line goes, and the prompt's mode."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self.stack: list[tuple[Node, int]] = []  # open sub-modes and the indentation they came with
        self.last: tuple[Node, int, int] | None = None  # last line, its indent, its stack depth

    @property
    def mode(self) -> str:
        """``config``, ``config-if``, ``config-router-af``... for the prompt."""
        if not self.stack:
            return "config"
        node = self.stack[-1][0]
        key = _starts(node.text, tuple(MODE_NAMES)) or node.text.split()[0]
        return f"config-{MODE_NAMES.get(key, key.replace(' ', '-'))}"

    def exit(self) -> bool:
        """Leave one sub-mode; False when already at the top (the caller leaves config mode)."""
        self.last = None
        if self.stack:
            self.stack.pop()
            return True
        return False

    def apply(self, raw: str) -> None:
        """Apply one line as typed (its indentation says where it belongs)."""
        text = " ".join(raw.split())
        indent = len(raw) - len(raw.lstrip(" \t"))
        if indent > 0:
            while self.stack and self.stack[-1][1] >= indent:
                self.stack.pop()
            last = self.last
            if last is not None and last[1] < indent and last[2] == len(self.stack):
                self.stack.append((last[0], last[1]))  # the previous line turned out to be a parent
        else:
            words = text[3:] if text.startswith("no ") else text
            if not self.stack or _starts(words, SECTIONS) or _starts(words, GLOBAL_WORDS):
                self.stack = []
            elif _starts(words, NESTED_SECTIONS) and len(self.stack) > 1:
                self.stack = self.stack[:1]
        parent = self.stack[-1][0] if self.stack else self.root
        if text.startswith("no "):
            if not parent.remove(text[3:]):
                parent.add(text)
            self.last = None
            return
        node = parent.add(text)
        opens = _starts(text, SECTIONS) if not self.stack else _starts(text, NESTED_SECTIONS)
        if opens and indent == 0:
            self.stack.append((node, indent))
            self.last = None
        else:
            self.last = (node, indent, len(self.stack))
