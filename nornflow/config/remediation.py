"""From running to intended: the lines to send (hier-config) and the unified diff a person reads.

Configurations are compared as hier-config trees, so ``!`` separators and the order the device
prints on its own do not count as differences (where order is the meaning, the verification
counts it: :mod:`nornflow.config.exact`). ``sections`` limits a comparison to top-level lines that
start with one of the given words (``["ntp", "interface Ethernet"]``): lines outside them are
neither shown nor changed. On Junos every line is a top-level ``set`` line; a section matches it
with or without the ``set`` (``["system ntp"]`` and ``["set system ntp"]`` alike).
The hier-config driver of each Nornir platform is data in :mod:`nornflow.tasks.platforms`.

Two of hier-config's drivers drop text a device keeps, and are adjusted here: the IOS driver
deletes ACL ``remark`` lines (a remark could never be planned, nor its loss seen), the NX-OS one
cuts every line at its first ``!`` (a description ``core!`` compared as ``core``). Comment lines
of an intended config (Junos ``#``) are dropped before parsing: never compared, never sent.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from collections.abc import Sequence

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig
from hier_config.constructors import get_hconfig_driver
from hier_config.exceptions import DuplicateChildError
from hier_config.models import PerLineSubRule
from hier_config.platforms.driver_base import HConfigDriverBase

from nornflow.config.blocks import reduce_pair
from nornflow.config.exceptions import DuplicateLines, UnsupportedPlatform
from nornflow.config.ordering import order_lines
from nornflow.tasks.platforms import UnknownPlatform, device_platform, known_platforms

#: Words a flat-syntax platform puts before every statement; sections match without them.
STATEMENT_PREFIXES = ("set ",)


def hier_platform(platform: str | None) -> Platform:
    try:
        driver = device_platform(platform).hier_config
    except UnknownPlatform as exc:
        raise UnsupportedPlatform(str(exc)) from exc
    if driver is None:
        supported = [p for p in known_platforms() if device_platform(p).hier_config]
        raise UnsupportedPlatform(f"platform {platform!r} has no remediation driver; supported: {supported}")
    return Platform[driver]


@functools.cache
def _driver(member: Platform, whole_text: bool = False) -> HConfigDriverBase:
    """hier-config's driver for ``member``, without the rules that drop text the device keeps; with
    ``whole_text``, without its per-line substitutions too (:func:`parse` runs them on the whole text)."""
    driver = get_hconfig_driver(member)
    rules = driver.rules
    subs = [PerLineSubRule(search=r"^\s*!.*", replace="") if rule.search == "!.*" else rule
            for rule in rules.per_line_sub]
    driver.rules = rules.model_copy(update={
        "post_load_callbacks": [cb for cb in rules.post_load_callbacks if "remark" not in cb.__name__],
        "per_line_sub": [] if whole_text else subs,
    })
    return driver


@functools.cache
def _whole_text_subs(member: Platform) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(rule.search.replace(r"\s", r"[ \t]"), re.MULTILINE), rule.replace)
                 for rule in _driver(member).rules.per_line_sub)


def driver_for(platform: str | None) -> HConfigDriverBase:
    return _driver(hier_platform(platform))


def parse(config: str, platform: str | None) -> HConfig:
    """hier-config's tree of ``config`` (comment lines and unmanaged lines already gone). Do not modify it:
    trees are shared (a plan's intended config is the one its verification compares against)."""
    return _parse(hier_platform(platform), config)


@functools.lru_cache(maxsize=16)
def _parse(member: Platform, config: str) -> HConfig:
    # hier-config runs each substitution rule on each line (~15 regex calls a line, the bulk of parsing
    # a 5,000-line config); run on the whole text at once, the same rules cost a few milliseconds.
    # Banners keep their text as typed (hier-config reads them before any rule): those configs go the slow way.
    if config.startswith("banner ") or "\nbanner " in config:
        return get_hconfig(_driver(member), config)
    text = "\n".join(" " * (len(ln) - len(ln.lstrip())) + " ".join(ln.split()) for ln in config.splitlines())
    for pattern, replace in _whole_text_subs(member):
        text = pattern.sub(replace, text)
    return get_hconfig(_driver(member, whole_text=True), text)


def without_comments(text: str, platform: str | None) -> str:
    """``text`` without the platform's comment lines and the lines no template owns."""
    profile = device_platform(platform)
    text = profile.managed(text)
    if not profile.comments:
        return text
    comment = re.compile("|".join(f"(?:{c})" for c in profile.comments))
    return "".join(ln + "\n" for ln in text.splitlines() if not comment.match(ln.lstrip()))


def in_sections(text: str, sections: Sequence[str]) -> bool:
    bare = next((text[len(p):] for p in STATEMENT_PREFIXES if text.startswith(p)), text)
    return any(text.startswith(s.strip()) or bare.startswith(s.strip()) for s in sections)


def scoped(parsed: HConfig, platform: str | None, sections: Sequence[str] | None) -> HConfig:
    """``parsed`` cut down to ``sections`` (the whole tree when none are given)."""
    if not sections:
        return parsed
    cut = get_hconfig(driver_for(platform))
    for child in parsed.children:
        if in_sections(child.text, sections):
            cut.add_deep_copy_of(child)
    return cut


def tree(config: str, platform: str | None, sections: Sequence[str] | None = None) -> HConfig:
    """The hier-config tree of ``config``, cut down to ``sections`` when given."""
    hier_platform(platform)  # an unknown platform or one without a driver is named first
    try:
        parsed = parse(without_comments(config, platform), platform)
    except DuplicateChildError as exc:
        raise DuplicateLines(f"the configuration holds a line twice, which a plan cannot express: {exc}; "
                             f"remove the duplicate (on the device or in the template) and plan again") from exc
    return scoped(parsed, platform, sections)


def text_of(config: HConfig) -> str:
    """Canonical text of a tree: one line per statement, two spaces per level."""
    return "".join(line + "\n" for line in config.dump_simple())


def remediation_of(running: HConfig, intended: HConfig, platform: str | None) -> list[str]:
    """The lines that take tree ``running`` to tree ``intended``, ordered lists put in order too."""
    lines = list(WorkflowRemediation(running, intended).remediation_config.dump_simple())
    return order_lines(lines, running, intended, device_platform(platform))


def changed_trees(running: str, intended: str, platform: str | None,
                  sections: Sequence[str] | None = None) -> tuple[HConfig, HConfig]:
    """The trees of ``running`` and ``intended`` without the top-level blocks both hold alike
    (:mod:`nornflow.config.blocks`): what their remediation and their diff need, parsed at the change's cost."""
    hier_platform(platform)
    have, want = reduce_pair(without_comments(running, platform), without_comments(intended, platform), platform)
    return tree(have, platform, sections), tree(want, platform, sections)


def remediation(running: str, intended: str, platform: str | None,
                sections: Sequence[str] | None = None) -> list[str]:
    """The lines that take ``running`` to ``intended`` (children indented under their parents)."""
    return remediation_of(*changed_trees(running, intended, platform, sections), platform)


def diff_of(running: HConfig, intended: HConfig, host: str) -> str:
    before = text_of(running).splitlines(keepends=True)
    after = text_of(intended).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=f"{host} running", tofile=f"{host} intended"))


def unified_diff(running: str, intended: str, platform: str | None, host: str,
                 sections: Sequence[str] | None = None) -> str:
    """A unified diff from the running to the intended configuration (canonical text, in scope)."""
    return diff_of(tree(running, platform, sections), tree(intended, platform, sections), host)


def config_hash(config: str) -> str:
    """A short, stable fingerprint of a configuration, insensitive to blank lines and trailing spaces."""
    lines = [ln.rstrip() for ln in config.replace("\r\n", "\n").splitlines() if ln.strip()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
