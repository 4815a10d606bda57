"""From a person's directory groups to their roles per workspace: one rule for OIDC and LDAP.

A person's roles are the union over the groups the settings name, recomputed from the groups
the provider or the directory states *now*, at every login and every recheck, and written over
whatever the person held before: leaving a group takes its roles away. Group names are compared
case-insensitively (Active Directory's are; no provider tells two groups apart by case alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nornflow.gateway.sso.errors import SsoError

_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")  # the gateway's user names (nornflow.gateway.store)


@dataclass(frozen=True)
class Identity:
    """Who a provider or directory says signed in: its stable id, a user name, and the groups it states."""

    source: str  # "oidc" or "ldap"
    subject: str  # OIDC ``sub``; an LDAP entry's DN
    username: str
    groups: frozenset[str]
    #: What a recheck needs (OIDC: refresh token, ID token for logout). Never logged or shown.
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


def user_name(value: object, what: str) -> str:
    """The gateway user name a provider's claim or a directory attribute gives, or a refusal naming it."""
    name = value.strip().lower() if isinstance(value, str) else ""
    if not _USER_NAME.fullmatch(name):
        raise SsoError(f"{what} {value!r} cannot be a NornFlow user name (1-64 of a-z 0-9 . _ @ -): "
                       "ask the identity provider's administrator, or choose another claim in the gateway's sso "
                       "settings")
    return name


def groups_from(value: object, what: str) -> frozenset[str]:
    """A groups claim or attribute as a set of names: a list of strings, or one string."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list | tuple) and all(isinstance(g, str) for g in value):
        return frozenset(value)
    raise SsoError(f"{what} is not a list of group names (got a {type(value).__name__})")


def roles_for(groups: Iterable[str], group_roles: Mapping[str, Mapping[str, Sequence[str]]],
              workspaces: Iterable[str] | None = None) -> dict[str, frozenset[str]]:
    """workspace -> roles for someone in ``groups``; only ``workspaces`` (when given) are kept."""
    held = {g.casefold() for g in groups}
    known = set(workspaces) if workspaces is not None else None
    roles: dict[str, set[str]] = {}
    for group, grants in group_roles.items():
        if group.casefold() not in held:
            continue
        for workspace, names in grants.items():
            if known is None or workspace in known:
                roles.setdefault(workspace, set()).update(names)
    return {ws: frozenset(names) for ws, names in sorted(roles.items())}
