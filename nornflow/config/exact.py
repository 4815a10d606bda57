"""Exact comparison of two configurations: what "verified" means after a change or a rollback.

A plan compares sets of lines (hier-config); a verification must not. It counts:

- duplicates: a line the device holds twice where once was intended (an ACL left with two stray
  entries) is a difference; hier-config cannot even load it, so each repeated line is tagged with
  its occurrence number first (a tag nobody types), and compared like any other line;
- order, in the lists the device evaluates in order (``ordered`` sections and ``ordered_flat``
  lists of :mod:`nornflow.tasks.platforms`): the same entries in another order are another policy;
- remarks and descriptions, which hier-config's drivers partly drop (see :mod:`.remediation`).

A rollback is held to more (``strict_order``): its target is the device's own earlier text, which
the device prints in a fixed order, so every line must be back in its place; a line re-created
elsewhere (``neighbor X route-map Y in`` after ``... out``, a Junos stanza at the end) would show
in the next backup as a change.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from hier_config import HConfig, WorkflowRemediation

from nornflow.config.blocks import reduce_pair
from nornflow.config.ordering import flat_lists
from nornflow.config.remediation import parse, scoped, without_comments
from nornflow.tasks.platforms import device_platform

#: Appended to the n-th (n >= 2) copy of a line in one place; U+2063 is an invisible separator.
TAG = " \u2063copy"
_TAG = re.compile(re.escape(TAG) + r"\d+$")


def _tag_duplicates(text: str, flat: bool) -> str:
    """``text`` with the second and later copies of a line under the same parent tagged ``TAG<n>``."""
    seen: Counter[tuple[str, ...]] = Counter()
    stack: list[tuple[int, str]] = []
    out = []
    for raw in text.splitlines():
        body = " ".join(raw.split())
        if not body:
            continue
        indent = 0 if flat else len(raw) - len(raw.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = (*(t for _, t in stack), body)
        seen[key] += 1
        curly = flat and body.endswith(("{", "}", ";"))  # Junos's curly form: braces repeat, leave them be
        line = raw.rstrip() + (f"{TAG}{seen[key]}" if seen[key] > 1 and not curly else "")
        stack.append((indent, body))
        out.append(line)
    return "".join(line + "\n" for line in out)


def snapshot(config: str, platform: str | None, sections: Sequence[str] | None = None) -> HConfig:
    """The tree of ``config`` with every line kept (repeated ones tagged), in the device's order."""
    text = without_comments(config, platform)
    flat = device_platform(platform).commit is not None
    return scoped(parse(_tag_duplicates(text, flat), platform), platform, sections)


def _plain(line: str) -> str:
    match = _TAG.search(line)
    return line[:match.start()] if match else line


def _describe(line: str) -> str:
    plain = _plain(line.strip())
    return f"{plain!r} (a duplicate)" if plain != line.strip() else repr(plain)


def _ordered(actual: HConfig, expected: HConfig, platform: str | None) -> list[str]:
    profile = device_platform(platform)
    problems = []
    if profile.ordered:
        section = re.compile("|".join(f"(?:{p})" for p in profile.ordered))
        for want in expected.children:
            have = actual.children.get(want.text) if section.match(want.text) else None
            if have is None:
                continue
            have_items = [c.text for c in have.children]
            want_items = [c.text for c in want.children]
            common = set(have_items) & set(want_items)
            if [i for i in have_items if i in common] != [i for i in want_items if i in common]:
                problems.append(f"the entries of {want.text!r} are in another order than intended")
    if profile.ordered_flat:
        have_lists = flat_lists((c.text for c in actual.children), profile.ordered_flat)
        for key, want_items in flat_lists((c.text for c in expected.children), profile.ordered_flat).items():
            have_items = have_lists.get(key, [])
            common = set(have_items) & set(want_items)
            if [i for i in have_items if i in common] != [i for i in want_items if i in common]:
                problems.append(f"the entries of {key!r} are in another order than intended "
                                f"(device: {', '.join(_plain(i) for i in have_items)[:300]})")
    return problems


def _outline(config: HConfig) -> list[tuple[int, str]]:
    return [(child.depth(), child.text) for child in config.all_children()]


def compare_trees(actual: HConfig, expected: HConfig, platform: str | None, *, strict_order: bool = False) -> list[str]:
    """What differs between two :func:`snapshot` trees, one sentence each (empty: exactly equal)."""
    problems = []
    left = list(WorkflowRemediation(actual, expected).remediation_config.dump_simple())
    if left:
        shown = ", ".join(_describe(line) for line in left[:5])
        problems.append(f"{len(left)} line(s) to reach the target, first {shown}")
    problems += _ordered(actual, expected, platform)
    if strict_order and not problems:
        have, want = _outline(actual), _outline(expected)
        if have != want:
            index = next((i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b),
                         min(len(have), len(want)))
            where = want[index][1] if index < len(want) else have[index][1]
            problems.append(f"the same lines, in another order: the device's line {index + 1} is not "
                            f"{_plain(where)!r} as before (the next backup would show a change)")
    return problems


def differences(actual: str, expected: str, platform: str | None, sections: Sequence[str] | None = None,
                *, strict_order: bool = False) -> list[str]:
    """What differs between ``actual`` (read from the device) and ``expected``, one sentence each.

    Top-level blocks both hold alike are left out first (:mod:`nornflow.config.blocks`), except under
    ``strict_order``, which compares every line's place."""
    if not strict_order:
        actual, expected = reduce_pair(without_comments(actual, platform), without_comments(expected, platform),
                                       platform)
    return compare_trees(snapshot(actual, platform, sections), snapshot(expected, platform, sections),
                         platform, strict_order=strict_order)
