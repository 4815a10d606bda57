"""From running to intended: the lines to send (hier-config) and the unified diff a person reads.

Configurations are compared as hier-config trees, so line order and ``!`` separators do
not count as differences. ``sections`` limits a comparison to top-level lines that start
with one of the given words (``["ntp", "interface Ethernet"]``): lines outside them are
neither shown nor changed.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence

from hier_config import HConfig, Platform, WorkflowRemediation, get_hconfig

from nornflow.config.exceptions import UnsupportedPlatform

#: Nornir (scrapli) platform names to hier-config platforms.
PLATFORMS: dict[str, Platform] = {
    "cisco_iosxe": Platform.CISCO_IOS, "cisco_ios": Platform.CISCO_IOS,
    "arista_eos": Platform.ARISTA_EOS, "cisco_nxos": Platform.CISCO_NXOS,
    "cisco_iosxr": Platform.CISCO_XR, "juniper_junos": Platform.JUNIPER_JUNOS,
}


def hier_platform(platform: str | None) -> Platform:
    try:
        return PLATFORMS[str(platform)]
    except KeyError:
        raise UnsupportedPlatform(
            f"platform {platform!r} has no remediation driver; supported: {sorted(PLATFORMS)}"
        ) from None


def _in_sections(text: str, sections: Sequence[str]) -> bool:
    return any(text.startswith(s.strip()) for s in sections)


def tree(config: str, platform: str | None, sections: Sequence[str] | None = None) -> HConfig:
    """The hier-config tree of ``config``, cut down to ``sections`` when given."""
    parsed = get_hconfig(hier_platform(platform), config)
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
