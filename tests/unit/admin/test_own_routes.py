"""The gateway's own routes are in the policy: each with one method, one credential and a permission that only
the intended roles grant."""

from __future__ import annotations

from nornflow.gateway.admin.routes import is_admin_path
from nornflow.gateway.policy.pages import OWN_ROUTES, own_route
from nornflow.gateway.policy.roles import ROLE_PERMS, Perm, Role, perms_for, roles_holding


def test_every_admin_route_takes_a_session_of_an_owner_and_metrics_a_metrics_token() -> None:
    admin = [r for r in OWN_ROUTES.values() if is_admin_path(r.path)]
    assert {r.path for r in admin} == {"/admin", "/admin/users/add", "/admin/users/grant", "/admin/users/disable",
                                       "/admin/users/enable", "/admin/users/passwd", "/admin/tokens/create",
                                       "/admin/tokens/revoke"}
    assert {(r.credential, r.perm) for r in admin} == {("session", Perm.ADMIN)}
    assert [r.method for r in admin if r.method == "GET"] == ["GET"]  # only the page itself is read
    assert OWN_ROUTES["/metrics"].credential == "token" and OWN_ROUTES["/metrics"].method == "GET"
    assert own_route("/admin/") is OWN_ROUTES["/admin"] and own_route("/admin/users") is None


def test_the_metrics_role_grants_the_scrape_alone_and_only_owners_administer() -> None:
    assert ROLE_PERMS[Role.METRICS] == {Perm.METRICS}
    assert roles_holding([Perm.METRICS]) == [Role.OWNER, Role.METRICS]
    assert roles_holding([Perm.ADMIN]) == [Role.OWNER]
    for role in Role:
        if role not in (Role.OWNER, Role.METRICS):
            assert Perm.METRICS not in perms_for([role]), role
    assert Perm.READ not in perms_for(["metrics"])
