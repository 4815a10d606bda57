"""A Junos configuration as one tree, read and written as ``set`` lines and as the braces Junos prints.

Every node is one *statement label* as Junos shows it between braces: a container name
(``system``, ``ge-0/0/0``), a keyword with its identifier (``unit 0``, ``group ibgp``) or a leaf
with its value (``host-name r1``, ``address 10.0.0.1/24``). Junos knows from its schema which
words take a value; the lab uses a list of them (:data:`NAMED`) and, for a word it does not know,
treats a trailing token that looks like a value (digits, dots, slashes, quotes) as that word's
value. Siblings keep the order they were added in. It is a test double, not a Junos schema.

As Junos shows them: a value is quoted only when it needs quotes (a space or a special character:
``full-name "Lab admin"`` but ``full-name admin``), a leaf-list shows its values in brackets
(``permissions [ view view-configuration ];``, one ``set`` line per value), and ``class`` is one
value in a ``user`` but names many classes under ``system login`` (captured ``show configuration
system login | display set`` outputs).
"""

from __future__ import annotations

import re
import shlex

from nornflow.lab.tree import Node

#: Keywords followed by an identifier or a value that is part of the same statement.
NAMED = frozenset((
    "version", "host-name", "domain-name", "time-zone", "name-server", "server", "encrypted-password",
    "user", "uid", "class", "file", "any", "authorization", "community", "location", "contact",
    "description", "unit", "family", "address", "mtu", "vlan-id", "router-id", "autonomous-system",
    "route", "next-hop", "group", "neighbor", "peer-as", "local-as", "local-address", "type", "area",
    "interface", "policy-statement", "term", "protocol", "filter", "prefix-list", "from", "export", "import",
    "members", "vlan", "instance-type", "route-distinguisher", "vrf-target", "native-vlan-id", "speed",
    "preference", "metric", "source-address", "boot-server", "message", "size", "files",
    "authentication-order", "retry", "timeout", "port", "secret", "routing-instance", "interface-mode",
    "minimum-links", "link-speed", "hold-time", "cluster", "multipath", "trap-group", "targets", "root-login",
    "protocol-version", "connection-limit", "rate-limit", "full-name", "permissions", "allow-commands",
    "deny-commands", "allow-configuration", "deny-configuration", "idle-timeout", "match", "apply-groups",
    "allowed-days", "ssh-rsa", "ssh-ed25519", "plain-text-password-value", "policy",
))
#: Statements that hold a list of values: Junos shows them as ``name [ a b ];``.
LEAF_LISTS = frozenset(("permissions", "members", "authentication-order", "apply-groups", "import", "export",
                        "allowed-days"))
#: Characters that make Junos quote a value (besides white space).
SPECIAL = frozenset(';{}#"\'()|[]<>&!$')
#: Statements that hold one value: a new ``set`` replaces the old value instead of adding one.
SINGLE = frozenset((
    "version", "host-name", "domain-name", "time-zone", "encrypted-password", "uid", "class", "authorization",
    "location", "contact", "description", "mtu", "vlan-id", "router-id", "autonomous-system", "peer-as",
    "local-as", "local-address", "type", "instance-type", "route-distinguisher", "native-vlan-id", "speed",
    "preference", "metric", "message", "interface-mode", "hold-time", "cluster",
))
#: Top-level statements Junos accepts; ``set`` of anything else is a syntax error.
TOP = frozenset((
    "version", "system", "chassis", "interfaces", "snmp", "routing-options", "protocols", "policy-options",
    "firewall", "class-of-service", "security", "vlans", "forwarding-options", "groups", "apply-groups",
    "routing-instances", "services", "event-options", "access", "applications", "poe", "switch-options",
    "bridge-domains", "logical-systems", "ethernet-switching-options", "virtual-chassis", "multi-chassis",
))
#: The order Junos prints the top-level hierarchies and those of ``system`` in (its schema order): a
#: statement created again goes back to its place, not to the end. Other levels keep the user's order.
ORDER = {
    "": ("version", "groups", "apply-groups", "system", "chassis", "services", "security", "interfaces", "snmp",
         "forwarding-options", "event-options", "routing-options", "protocols", "policy-options",
         "class-of-service", "firewall", "access", "routing-instances", "bridge-domains", "vlans"),
    "system": ("host-name", "domain-name", "domain-search", "time-zone", "authentication-order",
               "root-authentication", "name-server", "radius-server", "tacplus-server", "login", "services",
               "syslog", "archival", "ntp"),
}
_VALUE = re.compile(r"""^(\d|["'*$]|.*[./:])""")


def tokens(text: str) -> list[str]:
    """Split a line as the Junos CLI does: quoted strings stay one token (with their quotes)."""
    if '"' not in text and "'" not in text:
        return text.split()
    try:
        return shlex.split(text, posix=False)
    except ValueError:  # an unbalanced quote: take the words as they are
        return text.split()


def quoted(value: str) -> str:
    """``value`` as Junos prints it: bare unless it is empty or holds a space or a special character."""
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if inner and not any(c.isspace() or c in SPECIAL for c in inner):
        return inner
    return f'"{inner}"'


def _canonical(label: str) -> str:
    word, _, value = label.partition(" ")
    return f"{word} {quoted(value)}" if value.startswith('"') else label


def labels(words: list[str]) -> list[str]:
    """Group a statement path's words into labels: ``unit 0 family inet`` -> ``["unit 0", "family inet"]``."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i] in NAMED and i + 1 < len(words):
            out.append(f"{words[i]} {words[i + 1]}")
            i += 2
            continue
        out.append(words[i])
        i += 1
    if len(out) >= 2 and " " not in out[-1] and " " not in out[-2] and _VALUE.match(out[-1]) \
            and not _VALUE.match(out[-2]) and len(out) > 2:
        out[-2:] = [f"{out[-2]} {out[-1]}"]  # an unknown keyword and its value: one leaf
    return [_canonical(label) if '"' in label else label for label in out]


def _key(label: str, parent: Node) -> str:
    word = label.split(" ", 1)[0]
    if word == "class" and not parent.text.startswith("user "):
        return label  # `system login class NAME`: one of many classes; a user's `class` is one value
    return word if word in SINGLE else label


def _find(node: Node, label: str) -> Node | None:
    """The child ``label`` names: equal text, or the same single-value statement, or (a bare
    keyword, as ``delete system host-name`` gives) the child whose statement starts with it."""
    key = _key(label, node)
    found = next((c for c in node.children if c.text == label or _key(c.text, node) == key), None)
    if found is None and " " not in label:
        found = next((c for c in node.children if c.text.split(" ", 1)[0] == label), None)
    return found


def set_path(root: Node, path: list[str]) -> None:
    """``set <path>``: create what is missing along ``path`` (labels); replace a single value."""
    node = root
    for label in path:
        child = _find(node, label)
        if child is None or (child.text != label and " " in label):
            if child is not None:
                child.text = label
            else:
                child = Node(label)
                node.children.insert(_place(node, label), child)
        node = child


def _place(parent: Node, label: str) -> int:
    """Where a new statement goes: before the first sibling that Junos prints after it."""
    order = ORDER.get(parent.text)
    word = label.split(" ", 1)[0]
    if order is None or word not in order:
        return len(parent.children)
    rank = order.index(word)
    for i, child in enumerate(parent.children):
        other = child.text.split(" ", 1)[0]
        if other in order and order.index(other) > rank:
            return i
    return len(parent.children)


def insert(root: Node, path: list[str], where: str, anchor: list[str]) -> bool:
    """``insert <path> before|after <sibling>``: move a statement of a user-ordered list (policy
    terms, filter terms) next to its sibling, as Junos does; False when either is missing."""
    parent = subtree(root, path[:-1])
    if parent is None or len(anchor) != 1:
        return False
    moved = next((c for c in parent.children if c.text == path[-1]), None)
    target = next((c for c in parent.children if c.text == anchor[0]), None)
    if moved is None or target is None:
        return False
    parent.children.remove(moved)
    at = parent.children.index(target) + (1 if where == "after" else 0)
    parent.children.insert(at, moved)
    return True


def delete_path(root: Node, path: list[str]) -> bool:
    """``delete <path>``: drop that statement and everything under it, then empty parents; False if absent."""
    trail = [root]
    for label in path:
        child = _find(trail[-1], label)
        if child is None:
            return False
        trail.append(child)
    for parent, child in zip(reversed(trail[:-1]), reversed(trail[1:]), strict=True):
        if child.children and child is not trail[-1]:
            break
        parent.children.remove(child)
    return True


def subtree(root: Node, path: list[str]) -> Node | None:
    node: Node | None = root
    for label in path:
        node = _find(node, label) if node is not None else None
    return node


def render_curly(root: Node, depth: int = 0) -> str:
    """The configuration as ``show configuration`` prints it (four spaces per level)."""
    lines: list[str] = []

    def walk(node: Node, level: int) -> None:
        listed: set[str] = set()
        for child in node.children:
            pad = "    " * level
            if child.children:
                lines.append(f"{pad}{child.text} {{")
                walk(child, level + 1)
                lines.append(f"{pad}}}")
                continue
            word, _, value = child.text.partition(" ")
            if word in LEAF_LISTS and value:
                if word in listed:
                    continue
                listed.add(word)
                values = [c.text.partition(" ")[2] for c in node.children
                          if not c.children and c.text.startswith(word + " ")]
                if len(values) > 1:
                    lines.append(f"{pad}{word} [ {' '.join(values)} ];")
                    continue
            lines.append(f"{pad}{child.text};")

    walk(root, depth)
    return "".join(f"{line}\n" for line in lines)


def render_set(root: Node, prefix: list[str] | None = None) -> str:
    """The configuration as ``| display set`` prints it: one ``set`` line per leaf."""
    lines: list[str] = []

    def walk(node: Node, path: list[str]) -> None:
        for child in node.children:
            if child.children:
                walk(child, [*path, child.text])
            else:
                lines.append("set " + " ".join([*path, child.text]))

    walk(root, list(prefix or []))
    return "".join(f"{line}\n" for line in lines)


def parse_set(text: str) -> Node:
    root = Node("")
    for line in text.splitlines():
        words = tokens(line.strip())
        if words and words[0] == "set":
            set_path(root, labels(words[1:]))
    return root


def parse(text: str) -> Node:
    """Read either form: ``set`` lines or braces (comments, ``##`` and ``[edit]`` lines skipped)."""
    body = [ln.strip() for ln in text.replace("\r\n", "\n").splitlines()]
    body = [ln for ln in body if ln and not ln.startswith(("#", "/*", "[edit", "{"))]
    if body and all(ln.startswith("set ") for ln in body):
        return parse_set("\n".join(body))
    root = Node("")
    stack = [root]
    for line in body:
        if line == "}":
            if len(stack) > 1:
                stack.pop()
        elif line.endswith("{"):
            node = Node(line[:-1].strip())
            stack[-1].children.append(node)
            stack.append(node)
        else:
            statement = line.rstrip(";").strip()
            word, _, value = statement.partition(" ")
            if value.startswith("[") and value.endswith("]"):
                stack[-1].children.extend(Node(f"{word} {v}") for v in tokens(value[1:-1].strip()))
                continue
            stack[-1].children.append(Node(_canonical(statement) if '"' in statement else statement))
    return root


def load(db: Node, how: str, text: str) -> Node:
    """The candidate after ``load <how>`` of ``text``: ``override`` is exactly ``text``; ``merge`` and
    ``replace`` add its statements to ``db``; ``set`` runs its ``set``/``delete`` lines on ``db``."""
    if how == "override":
        return parse(text)
    lines = text.splitlines() if how == "set" else render_set(parse(text)).splitlines()
    for line in lines:
        words = tokens(line.strip())
        if words[:1] == ["set"] and len(words) > 1:
            set_path(db, labels(words[1:]))
        elif words[:1] == ["delete"] and len(words) > 1:
            delete_path(db, labels(words[1:]))
    return db


def compare(old: Node, new: Node) -> str:
    """``show | compare``: per hierarchy, ``-`` for what ``new`` drops and ``+`` for what it adds."""
    out: list[str] = []

    def marked(sign: str, node: Node) -> None:
        out.extend(f"{sign}   {line}" for line in render_curly(Node("", [node])).splitlines())

    def walk(a: Node, b: Node, path: list[str]) -> None:
        texts_a = {c.text for c in a.children}
        texts_b = {c.text for c in b.children}
        removed = [c for c in a.children if c.text not in texts_b]
        added = [c for c in b.children if c.text not in texts_a]
        if removed or added:
            out.append("[edit" + "".join(f" {p}" for p in path) + "]")
            for child in removed:
                marked("-", child)
            for child in added:
                marked("+", child)
        for child in b.children:
            twin = next((c for c in a.children if c.text == child.text), None)
            if twin is not None and (twin.children or child.children):
                walk(twin, child, [*path, child.text])

    walk(old, new, [])
    return "".join(f"{line}\n" for line in out)
