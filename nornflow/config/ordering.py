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

Named IOS ACLs are ordered by the sequence numbers hier-config gives every entry (EOS and NX-OS print
their own, remarks included: those need nothing here). IOS numbers entries but not remarks, and a
remark typed into an ACL lands last; where one is meant for the middle, the entries from that point
on are taken out by their text (``no permit ...``, ``no remark ...``) and typed again in order without
numbers, each landing last, so the head of the list is never touched (see :func:`place_remarks`).
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


NUMBERED = re.compile(r"\d+ ")


def _landing(current: list[str], wanted: list[str]) -> list[str]:
    """The order of an IOS ACL after the set-based lines: unwanted entries gone, numbered entries in
    number order, remarks (unnumbered) appended as typed."""
    kept = [item for item in current if item in set(wanted)]
    for item in wanted:
        if item in kept:
            continue
        if NUMBERED.match(item):
            number = int(item.split()[0])
            later = [i for i, x in enumerate(kept) if NUMBERED.match(x) and int(x.split()[0]) > number]
            kept.insert(later[0] if later else len(kept), item)
        else:
            kept.append(item)
    return kept


def _bare(item: str) -> str:
    """An ACL entry without the sequence number hier-config gave it."""
    return item.split(" ", 1)[1] if NUMBERED.match(item) else item


def place_remarks(lines: list[str], running: HConfig, intended: HConfig, platform: DevicePlatform) -> list[str]:
    """``lines`` with each IOS ACL whose unnumbered remarks would land out of place retyped from there on."""
    if platform.commit is not None or not platform.ordered:
        return lines
    section = re.compile("|".join(f"(?:{p})" for p in platform.ordered))
    negation = running.driver.negation_prefix
    for want in intended.children:
        have = running.children.get(want.text) if section.match(want.text) else None
        target = [c.text for c in want.children]
        if have is None or not any(t.startswith("remark ") for t in target):
            continue
        current = [c.text for c in have.children]
        if _landing(current, target) == target:
            continue
        base = [item for item in current if item in set(target)]
        pairs = enumerate(zip(base, target, strict=False))
        same = next((i for i, (a, b) in pairs if a != b), min(len(base), len(target)))
        # By text, not by number: the device's numbers need not be the ones hier-config counts (a remark
        # takes one on IOS XE), and an entry typed without one goes last, after what is left.
        retyped = [f"  {negation}{_bare(item)}" for item in current if item not in set(target)]
        retyped += [f"  {negation}{_bare(item)}" for item in base[same:]]
        retyped += [f"  {_bare(item)}" for item in target[same:]]
        start = next((i for i, ln in enumerate(lines) if ln == want.text), len(lines))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
        lines = [*lines[:start], want.text, *retyped, *lines[end:]]
    return lines


def order_lines(lines: list[str], running: HConfig, intended: HConfig, platform: DevicePlatform) -> list[str]:
    """``lines`` (a set-based remediation) plus what puts each ordered list in its intended order."""
    lines = place_remarks(lines, running, intended, platform)
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
