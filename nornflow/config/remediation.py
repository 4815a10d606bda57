"""From running to intended: the lines to send (hier-config) and the unified diff a person reads.

Configurations are compared as hier-config trees, so line order and ``!`` separators do
not count as differences. ``sections`` limits a comparison to top-level lines that start
with one of the given words (``["ntp", "interface Ethernet"]``): lines outside them are
neither shown nor changed. On Junos every line is a top-level ``set`` line; a section
matches it with or without the ``set`` (``["system ntp"]`` and ``["set system ntp"]`` alike).
The hier-config driver of each Nornir platform is data in :mod:`nornflow.tasks.platforms`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig

from nornflow.config.exceptions import UnsupportedPlatform
from nornflow.tasks.platforms import device_platform, known_platforms

#: Words a flat-syntax platform puts before every statement; sections match without them.
STATEMENT_PREFIXES = ("set ",)


def hier_platform(platform: str | None) -> Platform:
    driver = device_platform(platform).hier_config
    if driver is None:
        supported = [p for p in known_platforms() if device_platform(p).hier_config]
        raise UnsupportedPlatform(f"platform {platform!r} has no remediation driver; supported: {supported}")
    return Platform[driver]


def _in_sections(text: str, sections: Sequence[str]) -> bool:
    bare = next((text[len(p):] for p in STATEMENT_PREFIXES if text.startswith(p)), text)
    return any(text.startswith(s.strip()) or bare.startswith(s.strip()) for s in sections)


def tree(config: str, platform: str | None, sections: Sequence[str] | None = None) -> HConfig:
    """The hier-config tree of ``config``, cut down to ``sections`` when given."""
    parsed = get_hconfig(hier_platform(platform), device_platform(platform).managed(config))
    if not sections:
        return parsed
    scoped = get_hconfig(hier_platform(platform))
    for child in parsed.children:
        if _in_sections(child.text, sections):
            scoped.add_deep_copy_of(child)
    return scoped


def text_of(config: HConfig) -> str:
    """Canonical text of a tree: one line per statement, two spaces per level."""
    return "".join(line + "\n" for line in config.dump_simple())


def remediation(running: str, intended: str, platform: str | None,
                sections: Sequence[str] | None = None) -> list[str]:
    """The lines that take ``running`` to ``intended`` (children indented under their parents)."""
    flow = WorkflowRemediation(tree(running, platform, sections), tree(intended, platform, sections))
    return list(flow.remediation_config.dump_simple())


def unified_diff(running: str, intended: str, platform: str | None, host: str,
                 sections: Sequence[str] | None = None) -> str:
    """A unified diff from the running to the intended configuration (canonical text, in scope)."""
    before = text_of(tree(running, platform, sections)).splitlines(keepends=True)
    after = text_of(tree(intended, platform, sections)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=f"{host} running", tofile=f"{host} intended"))


def config_hash(config: str) -> str:
    """A short, stable fingerprint of a configuration, insensitive to blank lines and trailing spaces."""
    lines = [ln.rstrip() for ln in config.replace("\r\n", "\n").splitlines() if ln.strip()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
