"""The gateway's own routes (beside Prefect's API, which :mod:`.routes` classifies): each with the one method
it takes, the credential it accepts and the permission that credential must carry.

``/admin`` takes a browser session of someone holding :attr:`Perm.ADMIN` (the owner role) in at least one
configured workspace, and acts only in those; ``/metrics`` takes a token holding :attr:`Perm.METRICS` in
its workspace, and shows that workspace's series. Anything else under ``/admin`` is a 404.

The single sign-on routes take no credential: ``/sso/oidc/start`` is public (it only sends the browser
to the identity provider, limited per address), and ``/sso/oidc/callback`` is worth nothing without a
``state`` this gateway issued to the same browser and has not spent (:mod:`nornflow.gateway.sso.routes`).
Anything else under ``/sso`` is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from nornflow.gateway.policy.roles import Perm


@dataclass(frozen=True)
class OwnRoute:
    """One of the gateway's own routes."""

    method: str
    path: str
    credential: str  # "session" (a logged-in browser), "token", "none" (public) or "state" (public, state-bound)
    perm: Perm | None  # None for the public ones


def _admin(method: str, path: str) -> OwnRoute:
    return OwnRoute(method, path, "session", Perm.ADMIN)


OWN_ROUTES: Mapping[str, OwnRoute] = MappingProxyType({r.path: r for r in (
    OwnRoute("GET", "/metrics", "token", Perm.METRICS),
    _admin("GET", "/admin"),
    _admin("POST", "/admin/users/add"), _admin("POST", "/admin/users/grant"),
    _admin("POST", "/admin/users/disable"), _admin("POST", "/admin/users/enable"),
    _admin("POST", "/admin/users/passwd"),
    _admin("POST", "/admin/tokens/create"), _admin("POST", "/admin/tokens/revoke"),
    OwnRoute("GET", "/sso/oidc/start", "none", None),
    OwnRoute("GET", "/sso/oidc/callback", "state", None),
)})


def own_route(path: str) -> OwnRoute | None:
    """The route at ``path`` (a trailing slash ignored), or None."""
    return OWN_ROUTES.get(path.rstrip("/") or "/")
