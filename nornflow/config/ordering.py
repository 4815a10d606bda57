"""Put ordered lists in order: what a set-based plan leaves out where order is the meaning.

hier-config compares lines as sets, and a device appends what it is sent to the end of a list.
Where the list is evaluated in order (``ordered_flat`` in :mod:`nornflow.tasks.platforms`: Junos
policy and filter terms, import/export chains; IOS numbered ACLs and community lists), a plan that
adds a term meant for the middle would leave it last. After the set-based lines, this module
works out the order each list will have on the device and, where it differs from the intended
order, adds what real operators type:

- on commit platforms (Junos) one ``insert <list> <item> before <other>`` per misplaced item;
- on live platforms (IOS-like), which have no insert for these lists, the list is rewritten:
  ``no <list>`` then every intended entry in order, instead of the per-line changes to it.

(Named IOS ACLs are ordered by the sequence numbers hier-config gives every entry, EOS and NX-OS
print their own: those need nothing here.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hier_config import HConfig

if TYPE_CHECKING:
    from nornflow.tasks.platforms import DevicePlatform


def flat_lists(lines: Iterable[str], patterns: tuple[str, ...]) -> dict[str, list[str]]:
    """The ordered lists among top-level ``lines``: list key -> its items in order of first appearance."""
    compiled = [re.compile(p) for p in patterns]
    found: dict[str, dict[str, None]] = {}
    for line in lines:
        for pattern in compiled:
            match = pattern.match(line)
            if match:
                item = match.groupdict().get("item") or line
                found.setdefault(match["key"], {})[item] = None
                break
    return {key: list(items) for key, items in found.items()}


def _keyword(pattern: str, line: str) -> str:
    """The words between a list's key and its item (``term`` in ``... policy-statement P term T``)."""
    match = re.match(pattern, line)
    if match is None or "item" not in match.groupdict() or match["item"] is None:
        return ""
    return line[match.end("key"):match.start("item")].strip()


def after_apply(running: list[str], intended: list[str]) -> list[str]:
    """The order the device will show: the kept items where they were, new ones appended in intended order."""
    wanted = set(intended)
    kept = [item for item in running if item in wanted]
    return kept + [item for item in intended if item not in set(kept)]


def moves(current: list[str], target: list[str]) -> list[tuple[str, str]]:
    """``(item, before)`` moves that turn ``current`` into ``target`` (same items), first to last."""
    now = list(current)
    out: list[tuple[str, str]] = []
    for index, item in enumerate(target):
        if now[index] != item:
            out.append((item, now[index]))
            now.remove(item)
            now.insert(index, item)
    return out


def order_lines(lines: list[str], running: HConfig, intended: HConfig, platform: DevicePlatform) -> list[str]:
    """``lines`` (a set-based remediation) plus what puts each ordered flat list in its intended order."""
    if not platform.ordered_flat:
        return lines
    run_top = [child.text for child in running.children]
    want_top = [child.text for child in intended.children]
    before = flat_lists(run_top, platform.ordered_flat)
    negation = running.driver.negation_prefix
    extra: list[str] = []
    for key, target in flat_lists(want_top, platform.ordered_flat).items():
        expected = after_apply(before.get(key, []), target)
        sample = next(line for line in want_top if line.startswith(key))
        pattern = next(p for p in platform.ordered_flat if re.match(p, sample))
        trimmed = platform.commit is None and key in before and any(
            _in_list(ln.removeprefix(negation), key, pattern) for ln in lines if ln.startswith(negation))
        if expected == target and not trimmed:
            continue
        if platform.commit is None:
            # IOS: ``no access-list 101 permit ...`` removes the whole list, not one entry, and an entry
            # cannot be typed into the middle. So the list is rewritten: removed, then typed in order.
            lines = [ln for ln in lines if not _in_list(ln.removeprefix(negation), key, pattern)]
            extra += [f"{negation}{key}", *(ln for ln in want_top if _in_list(ln, key, pattern))]
            continue
        word = _keyword(pattern, sample)
        path = key.removeprefix(running.driver.declaration_prefix)
        extra += [" ".join(filter(None, ["insert", path, word, item, "before", word, other]))
                  for item, other in moves(expected, target)]
    return lines + extra


def _in_list(line: str, key: str, pattern: str) -> bool:
    match = re.match(pattern, line)
    return match is not None and match["key"] == key
