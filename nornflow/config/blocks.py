"""Two configurations without the top-level blocks they share: what a plan or a verification must parse.

A one-line change to a 5,000-line config leaves almost every top-level block (a line and its indented
children) the same text on both sides. A block both sides hold identically adds nothing to a
remediation or to an exact comparison: hier-config diffs top-level children independently, a block's
own order is inside the block, and a copy both hold cancels (the n-th copy on one side only stays, so a
duplicate still counts). Parsing only what is left makes a plan and a verification cost what the change
costs, not what the config weighs.

What is kept whole on both sides, because it is compared as a whole: every block of a top-level
ordered list (``ordered_flat``: numbered ACLs, community lists) one of whose blocks differs, every
block whose first line is the first line of a differing block (a section typed twice merges on the
device), and every block that an idempotent-command rule of hier-config's driver pairs with a differing
one (``snmp-server location A`` is replaced by ``snmp-server location B``, not negated: hier-config
decides that by looking at the sibling). Only indentation-structured configs are reduced; Junos ``set``
lines nest by their words, so a shared line there can be the sibling a ``delete`` of its parent would
take away: they are compared whole.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from nornflow.tasks.platforms import device_platform

_TRAILING = re.compile(r"[ \t]+\n")
_BLANK = re.compile(r"\n{2,}")
_TOP = re.compile(r"\n(?=[^ \t])")


def split_blocks(text: str) -> list[str]:
    """Top-level blocks of ``text``: a line at column 0 with the indented lines under it, as typed (trailing
    spaces and blank lines aside). Blocks that differ only in spacing do not cancel; they are compared
    by hier-config like any other (slower, never wrong)."""
    if " \n" in text or "\t\n" in text:  # device reads are stripped already: skip the costly pass then
        text = _TRAILING.sub("\n", text)
    body = _BLANK.sub("\n", text).strip("\n")
    return [block + "\n" for block in _TOP.split(body) if block.strip()] if body else []


def _head(block: str) -> str:
    return " ".join(block.split("\n", 1)[0].split())


def _matches(rule: Any, text: str) -> bool:
    """hier-config's ``MatchRule`` test (``HConfigChild._is_match``) on a line's text."""
    equals = rule.equals
    if (isinstance(equals, str) and text != equals) or (isinstance(equals, frozenset) and text not in equals):
        return False
    if isinstance(rule.startswith, (str, tuple)) and not text.startswith(rule.startswith):
        return False
    if isinstance(rule.re_search, str) and not re.search(rule.re_search, text):
        return False
    if isinstance(rule.endswith, (str, tuple)) and not text.endswith(rule.endswith):
        return False
    contains = rule.contains
    return not ((isinstance(contains, str) and contains not in text)
                or (isinstance(contains, tuple) and not any(c in text for c in contains)))


def _idempotent_rules(platform: str | None) -> list[Any]:
    """The driver's top-level idempotent-command rules (one match rule: a top-level line)."""
    from nornflow.config.remediation import driver_for  # remediation imports this module

    return [r.match_rules[0] for r in driver_for(platform).rules.idempotent_commands if len(r.match_rules) == 1]


def reduce_pair(left: str, right: str, platform: str | None) -> tuple[str, str]:
    """``left`` and ``right`` (comment lines already gone) without the top-level blocks both hold alike."""
    profile = device_platform(platform)
    if profile.commit is not None:
        return left, right
    a, b = split_blocks(left), split_blocks(right)
    common = Counter(a) & Counter(b)
    if not common:
        return left, right
    flat = [re.compile(p) for p in profile.ordered_flat]

    def key(block: str) -> str | None:
        for pattern in flat:
            match = pattern.match(block)
            if match:
                return match.groupdict().get("key") or match.group(0)
        return None

    def sequences(blocks: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for block in blocks:
            name = key(block)
            if name is not None:
                found.setdefault(name, []).append(block)
        return found

    seq_a, seq_b = (sequences(a), sequences(b)) if flat else ({}, {})
    lists = {k for k in seq_a.keys() | seq_b.keys() if seq_a.get(k) != seq_b.get(k)}  # an entry or the order
    differing = (Counter(a) - common) + (Counter(b) - common)
    heads = {_head(block) for block in differing}
    rules = [r for r in _idempotent_rules(platform) if any(_matches(r, head) for head in heads)]

    def paired(block: str) -> bool:
        head = _head(block)
        return head in heads or (bool(lists) and key(block) in lists) or any(_matches(r, head) for r in rules)

    def kept(blocks: list[str]) -> str:
        budget = Counter(common)
        out = []
        for block in blocks:
            if paired(block):
                out.append(block)
            elif budget[block] > 0:
                budget[block] -= 1
            else:
                out.append(block)
        return "".join(out)

    return kept(a), kept(b)
