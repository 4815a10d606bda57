"""A simulated device's running configuration: an IOS-style tree that config-mode lines edit.

Real devices know which commands open a sub-mode, which mode takes a line and which words
replace an earlier value; the lab approximates that with a little data per platform
(:mod:`nornflow.lab.grammar`), enough for remediations that hier-config writes (indented
children, ``no <line>``, ``exit``/``end``) and for engineers who type flat lines (``interface
Ethernet1`` then ``description x``, then ``ip route ...``, which leaves the interface because an
interface has no ``ip route``, as on the device). New lines go where the device prints them
(ranks per section), ACL entries carry sequence numbers (:mod:`nornflow.lab.acl`). It is a test
double, not a parser of every IOS command.
"""

from __future__ import annotations

import re

from nornflow.lab import acl
from nornflow.lab.grammar import IOS, IP_GLOBAL, VOCABULARY, Grammar, kind, starts
from nornflow.lab.tree import Node

#: Words that, at the top level, open a sub-mode (their children follow, indented).
SECTIONS = (
    "interface", "router", "line", "vlan", "vrf definition", "vrf instance", "ip access-list",
    "ipv6 access-list", "route-map",
    "class-map", "policy-map", "management", "archive", "redundancy", "control-plane", "ip vrf",
    "key chain", "crypto", "spanning-tree mst configuration", "aaa group", "monitor session",
    "vrf context", "vdc",
)
#: Top-level statements that no sub-mode takes: typed without indentation, they leave any sub-mode.
GLOBAL_WORDS = (
    "hostname", "ntp", "username", "aaa", "snmp-server", "service", "clock timezone", "clock summer-time",
    "boot", "banner", "enable", "transceiver", "agent", "end", "feature", "version", "access-list", "alias",
    *IP_GLOBAL,
)
#: Lines that leave a nested sub-mode (IOS prints ``exit-address-family`` as the block's last line).
EXITS = ("exit-address-family", "exit-peer-policy", "exit-peer-session", "exit-vrf", "exit-af-topology",
         "exit-service-family")
#: Sections IOS prints back to back, without a ``!`` between two of the same kind (batfish's IOS configs).
UNSEPARATED = ("line", "ip access-list")
#: A neighbor's policy line, which only a BGP sub-mode takes (a global ``route-map`` has no ``in``/``out``).
POLICY = re.compile(r"(route-map|prefix-list|filter-list) \S+ (in|out)")
MODE_NAMES = {
    "interface": "if", "router": "router", "line": "line", "vlan": "vlan", "route-map": "route-map",
    "address-family": "router-af", "management": "mgmt", "ip access-list": "ext-nacl",
    "vrf context": "vrf",
}


def _starts(text: str, words: tuple[str, ...]) -> str | None:
    return next((w for w in words if text == w or text.startswith(w + " ")), None)


def parse(text: str, grammar: Grammar = IOS) -> Node:
    """Build the tree from configuration text; ``!``, blank and ``end`` lines carry no meaning.
    ACL entries get the sequence numbers the device gives them (IOS's text shows none)."""
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
    for child in root.children:
        if child.children and grammar.is_acl(child.text):
            acl.number(child)
    return root


def render(root: Node, indent: int = 1, grammar: Grammar = IOS) -> str:
    """Configuration text as the device shows it: sections separated by ``!``, ``end`` last."""
    lines: list[str] = []

    def walk(node: Node, depth: int) -> None:
        for child in node.children:
            lines.append(" " * (indent * depth) + child.text)
            walk(child, depth + 1)

    children = root.children
    for at, child in enumerate(children):
        lines.append(child.text)
        if child.children and grammar.is_acl(child.text):
            pad = " " * indent
            lines.extend(pad + acl.shown(c.text, numbered=grammar.acl_seq_shown, padded=grammar.deny_padded)
                         for c in child.children)
        else:
            walk(child, 1)
        after = children[at + 1].text if at + 1 < len(children) else ""
        if child.children and not (_starts(child.text, UNSEPARATED) and _starts(after, UNSEPARATED)
                                   and kind(after) == kind(child.text)):
            lines.append("!")
    return "\n".join([*lines, "end"]) + "\n"


def _refuses(section: str, words: str) -> bool:
    """True when the sub-mode ``section`` opened has no command ``words`` (the line goes up a mode)."""
    mode = kind(section)
    vocabulary = VOCABULARY.get(mode)
    if vocabulary is None:
        return False  # a mode the lab does not know the words of: the line stays
    if mode == "interface" and starts(words, IP_GLOBAL):
        return True
    if mode.endswith("access-list") and words.split(" ", 1)[0].isdigit():
        return False
    return starts(words, vocabulary) is None


class ConfigSession:
    """One ``configure terminal`` session: where the next line goes, and the prompt's mode."""

    def __init__(self, root: Node, grammar: Grammar = IOS) -> None:
        self.root = root
        self.grammar = grammar
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

    def apply(self, raw: str) -> str:
        """Apply one line as typed; the device's answer ("" when it takes the line silently).

        An indented line goes under the last less-indented one (what a pasted config or a
        hier-config remediation means); an unindented one goes to the innermost open mode that
        has such a command, or to global config, as the device's parser does."""
        text = " ".join(raw.split())
        indent = len(raw) - len(raw.lstrip(" \t"))
        if text in EXITS:
            self.exit()
            return ""
        if indent > 0:
            while self.stack and self.stack[-1][1] >= indent:
                self.stack.pop()
            last = self.last
            if last is not None and last[1] < indent and last[2] == len(self.stack):
                self.stack.append((last[0], last[1]))  # the previous line turned out to be a parent
        else:
            words = text[3:] if text.startswith("no ") else text
            nested = _starts(words, self.grammar.nested) is not None
            policy = POLICY.fullmatch(words) is not None  # `route-map X in` (NX-OS neighbor): not a route-map
            if not self.stack or (not policy and (_starts(words, SECTIONS) or _starts(words, GLOBAL_WORDS))):
                self.stack = []
            else:  # up until a mode takes it; a sub-mode opener becomes the sibling of one of its kind
                same = [i for i, (n, _) in enumerate(self.stack) if nested and kind(n.text) == kind(words)]
                if same:
                    self.stack = self.stack[:same[-1]]
                while self.stack and _refuses(self.stack[-1][0].text, words):
                    self.stack.pop()
        parent = self.stack[-1][0] if self.stack else self.root
        if self.stack and self.grammar.is_acl(parent.text):
            self.last = None
            return acl.edit(parent, text)
        text = self._canonical(parent, text)
        if text.startswith("no "):
            self._negate(parent, text[3:])
            self.last = None
            return ""
        siblings = [c.text for c in parent.children]
        new = text not in siblings
        node = parent.add(text, self.grammar.position(siblings, parent.text, text))
        opens = _starts(text, SECTIONS) if not self.stack else _starts(text, self.grammar.nested)
        if opens and indent == 0:
            self.stack.append((node, indent))
            self.last = None
        else:
            self.last = (node, indent, len(self.stack))
        if new and opens == "address-family" and self.grammar.exit_address_family and parent is not self.root:
            at = parent.children.index(node) + 1
            if at >= len(parent.children) or parent.children[at].text != "exit-address-family":
                parent.children.insert(at, Node("exit-address-family"))
        return ""

    def _canonical(self, parent: Node, text: str) -> str:
        """The line as the device stores it: ``route-map X`` is ``route-map X permit 10``, a prefix-list
        line without ``seq`` gets the next one."""
        if parent is self.root and text.startswith("route-map "):
            words = text.split()
            if len(words) == 2:
                words.append("permit")
            if len(words) == 3 and words[2] in ("permit", "deny"):
                return " ".join([*words, "10"])
        if parent is self.root and self.grammar.prefix_list_step and text.startswith("ip prefix-list "):
            return acl.renumber_prefix_list(parent.children, text, self.grammar.prefix_list_step)
        return text

    def _negate(self, parent: Node, text: str) -> None:
        """``no <text>``: what the device removes (or keeps as a ``no`` line)."""
        words = text.split()
        if parent is self.root and words[0] == "access-list" and len(words) > 2:
            text = " ".join(words[:2])  # IOS: `no access-list 101 <anything>` deletes all of list 101
        elif parent is self.root and words[:1] == ["ip"] and words[1:2] == ["prefix-list"] and len(words) > 4 \
                and words[3] != "seq":
            same = next((c for c in parent.children if c.text.split()[:3] == words[:3]
                         and c.text.split()[5:] == words[3:]), None)
            text = same.text if same is not None else text
        doomed = [c for c in parent.children if c.text == text] or \
            [c for c in parent.children if c.text.startswith(text + " ")]
        if not doomed:
            if text not in self.grammar.hidden_defaults:
                parent.add("no " + text, self.grammar.position([c.text for c in parent.children], parent.text,
                                                               "no " + text))
            return
        for node in doomed:
            at = parent.children.index(node)
            parent.children.remove(node)
            if node.text.startswith("address-family") and at < len(parent.children) \
                    and parent.children[at].text == "exit-address-family":
                del parent.children[at]
