"""Apply remediation lines to a configuration's text the way the devices do (no I/O), for plan -> apply -> verify.

What it models, from the vendors' documentation, because verification depends on it:

- IOS-like (IOS, EOS, NX-OS): a line that exists enters it (a section) or changes nothing; a new
  line goes to the end of its section; ``no X`` removes the first line that is ``X`` or starts with
  ``X `` (with its children). In an ordered section (``ip access-list ...``) an entry typed with a
  sequence number goes to its place by number; IOS keeps the numbers but does not print them
  (``shows_numbers=False``), EOS and NX-OS print them; ``no <n> ...`` removes entry ``n``.
  ACL entries typed without a number, and remarks, go to the end.
- Junos (``set`` lines): ``set`` adds a line not there yet (at the end: only the order inside
  ordered lists is compared), ``delete X`` removes ``set X`` and everything under it, ``insert P
  [word] A before [word] B`` moves item ``A`` of list ``P`` before item ``B``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ORDERED = re.compile(r"(ip|ipv6|mac) access-list ")
NUMBERED = re.compile(r"(\d+) (.*)")


@dataclass
class Node:
    text: str
    seq: int | None = None
    children: list[Node] = field(default_factory=list)


class LiveText:
    """An IOS-like running config that takes config lines as typed."""

    def __init__(self, text: str, indent: int = 1, shows_numbers: bool = False) -> None:
        self.root = Node("")
        self.indent, self.shows_numbers = indent, shows_numbers
        stack: list[tuple[int, Node]] = [(-1, self.root)]
        for raw in text.splitlines():
            body = raw.strip()
            if not body or body.startswith("!") or body == "end":
                continue
            depth = len(raw) - len(raw.lstrip())
            while stack[-1][0] >= depth:
                stack.pop()
            parent = stack[-1][1]
            node = Node(" ".join(body.split()))
            self._add(parent, node)
            stack.append((depth, node))

    def _ordered(self, parent: Node) -> bool:
        return bool(ORDERED.match(parent.text))

    def _add(self, parent: Node, node: Node) -> Node:
        if self._ordered(parent) and not node.text.startswith("remark"):
            match = NUMBERED.match(node.text)
            numbers = [c.seq for c in parent.children if c.seq is not None]
            if match:
                node.seq = int(match[1])
                if not self.shows_numbers:
                    node.text = match[2]
            else:
                node.seq = (max(numbers) if numbers else 0) + 10
                if self.shows_numbers:
                    node.text = f"{node.seq} {node.text}"
            later = [i for i, c in enumerate(parent.children) if c.seq is not None and c.seq > node.seq]
            parent.children.insert(later[0] if later else len(parent.children), node)
            return node
        parent.children.append(node)
        return node

    def _remove(self, parent: Node, text: str) -> None:
        """``no X``: the line ``X`` (by number in a numbered list), else every line under ``X``
        (``no ip community-list standard C`` removes the whole list, ``no description`` the description)."""
        match = NUMBERED.match(text)
        for index, child in enumerate(parent.children):
            by_number = (self._ordered(parent) and match is not None and child.seq == int(match[1])
                         and not self.shows_numbers)
            if by_number or child.text == text:
                del parent.children[index]
                return
        parent.children = [c for c in parent.children if not c.text.startswith(text + " ")]

    def apply(self, lines: list[str]) -> None:
        path: list[Node] = [self.root]
        for line in lines:
            level = (len(line) - len(line.lstrip())) // 2
            del path[level + 1:]
            parent, text = path[level], " ".join(line.split())
            if text.startswith("no "):
                self._remove(parent, text[3:])
                continue
            match = NUMBERED.match(text)
            plain = match[2] if match and self._ordered(parent) and not self.shows_numbers else text
            found = next((c for c in parent.children if c.text == plain), None)
            path.append(found or self._add(parent, Node(text)))

    def text(self) -> str:
        out: list[str] = []

        def walk(node: Node, depth: int) -> None:
            for child in node.children:
                out.append(" " * (self.indent * depth) + child.text)
                walk(child, depth + 1)

        walk(self.root, 0)
        return "\n".join(out) + "\n"


class SetText:
    """A Junos ``show configuration | display set`` that takes ``set``/``delete``/``insert`` lines."""

    def __init__(self, text: str) -> None:
        self.lines = [" ".join(ln.split()) for ln in text.splitlines() if ln.startswith("set ")]

    def _block(self, prefix: str) -> list[int]:
        return [i for i, ln in enumerate(self.lines) if ln == prefix or ln.startswith(prefix + " ")]

    def apply(self, lines: list[str]) -> None:
        for line in (" ".join(ln.split()) for ln in lines):
            if line.startswith("set ") and line not in self.lines:
                self.lines.append(line)
            elif line.startswith("delete "):
                gone = set(self._block("set " + line.removeprefix("delete ")))
                self.lines = [ln for i, ln in enumerate(self.lines) if i not in gone]
            elif line.startswith("insert "):
                head, _, other = line.removeprefix("insert ").partition(" before ")
                moved = self._block("set " + head)
                words = other.split()
                parent = head.rsplit(" ", 2 if len(words) == 2 else 1)[0]
                block = [self.lines[i] for i in moved]
                self.lines = [ln for i, ln in enumerate(self.lines) if i not in set(moved)]
                at = self._block(f"set {parent} {other}")[0]
                self.lines[at:at] = block

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
