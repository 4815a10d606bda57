"""The single sign-on settings refuse what would be unsafe (plain LDAP, http issuers off loopback, symmetric or
no ID-token signatures, unknown roles), the group mapping is one union, and PKCE is RFC 7636's S256."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nornflow.gateway.sso.errors import SsoError
from nornflow.gateway.sso.groups import groups_from, roles_for, user_name
from nornflow.gateway.sso.oidc import pkce_challenge
from nornflow.gateway.sso.settings import LdapSettings, OidcSettings, SsoSettings, resolve_secret
from nornflow.gateway.sso.state import SsoState

LDAP: dict[str, object] = {"bind_dn": "cn=svc,dc=x", "bind_password": "p", "user_base": "ou=people,dc=x",
                           "group_base": "ou=groups,dc=x"}


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce_challenge(verifier) == challenge


@pytest.mark.parametrize(("url", "start_tls", "problem"), [
    ("ldap://dc1.example.com", False, "plain LDAP"),
    ("ldaps://dc1.example.com", True, "already TLS"),
    ("http://dc1.example.com", False, "not an LDAP server URL"),
])
def test_ldap_needs_tls(url: str, start_tls: bool, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        LdapSettings.model_validate({"url": url, "start_tls": start_tls, **LDAP})
    LdapSettings.model_validate({"url": "ldap://dc1.example.com", "start_tls": True, **LDAP})
    LdapSettings.model_validate({"url": "ldaps://dc1.example.com:636", **LDAP})


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("user_filter", "uid={username}", "parenthesised"),
    ("user_filter", "(uid=alice)", "{username}"),
    ("group_filter", "(member=x)", "{user_dn}"),
])
def test_ldap_filters_must_hold_their_placeholder(field: str, value: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        LdapSettings.model_validate({"url": "ldaps://dc1", **LDAP, field: value})


def test_oidc_settings_refuse_unsafe_choices() -> None:
    with pytest.raises(ValidationError, match="must use https"):
        OidcSettings(issuer="http://login.example.com", client_id="c")
    OidcSettings(issuer="http://127.0.0.1:8080", client_id="c")  # loopback: the test provider
    with pytest.raises(ValidationError, match="asymmetric"):
        OidcSettings(issuer="https://login.example.com", client_id="c", algorithms=["HS256"])
    with pytest.raises(ValidationError, match="asymmetric"):
        OidcSettings(issuer="https://login.example.com", client_id="c", algorithms=["none"])
    with pytest.raises(ValidationError, match="openid"):
        OidcSettings(issuer="https://login.example.com", client_id="c", scopes=["profile"])
    with pytest.raises(ValidationError, match="less than or equal to 300"):
        OidcSettings(issuer="https://login.example.com", client_id="c", clock_skew_seconds=3600)


def test_group_roles_name_known_roles_and_workspaces() -> None:
    with pytest.raises(ValidationError, match="unknown or no roles"):
        SsoSettings(group_roles={"netops": {"core": ["admin"]}})
    with pytest.raises(ValidationError, match="workspace name"):
        SsoSettings(group_roles={"netops": {"Core Net": ["viewer"]}})
    assert not SsoSettings().enabled


def test_roles_are_the_union_over_the_groups_case_insensitively() -> None:
    mapping = {"NetOps-Admins": {"core": ["owner"]}, "netops": {"core": ["runner"], "dc": ["viewer"]},
               "auditors": {"core": ["viewer"]}}
    assert roles_for({"netops-admins", "NETOPS"}, mapping) == {"core": {"owner", "runner"}, "dc": {"viewer"}}
    assert roles_for({"netops"}, mapping, workspaces=["core"]) == {"core": {"runner"}}
    assert roles_for(set(), mapping) == {}
    assert roles_for({"unmapped"}, mapping) == {}


def test_user_names_and_groups_from_claims() -> None:
    assert user_name(" Olivia@Example.COM ", "email") == "olivia@example.com"
    for bad in ("", "a:b", "x" * 65, None, 42, "-lead"):
        with pytest.raises(SsoError, match="cannot be a NornFlow user name"):
            user_name(bad, "claim")
    assert groups_from(["a", "b"], "g") == {"a", "b"} and groups_from("a", "g") == {"a"}
    assert groups_from(None, "g") == frozenset()
    with pytest.raises(SsoError, match="not a list of group names"):
        groups_from([{"id": 1}], "g")


def test_a_literal_secret_is_used_as_is_and_a_reference_goes_through_the_resolver() -> None:
    from pydantic import SecretStr

    assert resolve_secret(SecretStr("plain"), None, "x") == "plain"
    seen: list[str] = []

    def resolve(ref: str) -> str:
        seen.append(ref)
        return "resolved"

    assert resolve_secret(SecretStr("secret:nornflow-vault/main:oidc#client_secret"), resolve, "x") == "resolved"
    assert seen == ["secret:nornflow-vault/main:oidc#client_secret"]


def test_a_pending_login_is_spent_once_and_bound_to_its_browser(tmp_path: Path) -> None:
    now = [1000.0]
    state = SsoState(tmp_path / "gateway.db", clock=lambda: now[0])
    state.put_pending("s1", "browser-a", "{}", ttl=600)
    with pytest.raises(SsoError, match="another browser"):
        state.take_pending("s1", "browser-b")
    with pytest.raises(SsoError, match="unknown or was used already"):  # the wrong browser spent it
        state.take_pending("s1", "browser-a")
    state.put_pending("s2", "browser-a", '{"x": 1}', ttl=600)
    assert state.take_pending("s2", "browser-a") == '{"x": 1}'
    with pytest.raises(SsoError, match="unknown or was used already"):
        state.take_pending("s2", "browser-a")
    state.put_pending("s3", "browser-a", "{}", ttl=600)
    now[0] += 601
    with pytest.raises(SsoError, match="too long"):
        state.take_pending("s3", "browser-a")


def test_a_user_name_stays_with_the_account_that_first_used_it(tmp_path: Path) -> None:
    state = SsoState(tmp_path / "gateway.db")
    state.bind_identity("oidc", "sub-1", "alice")
    state.bind_identity("oidc", "sub-1", "alice")  # the same account again
    with pytest.raises(SsoError, match="belongs to another oidc account"):
        state.bind_identity("oidc", "sub-2", "alice")
    with pytest.raises(SsoError, match="signed in before as 'alice'"):
        state.bind_identity("oidc", "sub-1", "alice2")
    with pytest.raises(SsoError, match="belongs to another oidc account"):
        state.bind_identity("ldap", "uid=alice,dc=x", "alice")
    state.forget_user("alice")
    state.bind_identity("oidc", "sub-2", "alice")


def test_the_policy_knows_the_single_sign_on_routes() -> None:
    from nornflow.gateway.policy.pages import OWN_ROUTES
    from nornflow.gateway.sso.routes import CALLBACK, START

    sso = {path: route for path, route in OWN_ROUTES.items() if path.startswith("/sso/")}
    assert set(sso) == {START, CALLBACK}
    assert (sso[START].method, sso[START].credential) == ("GET", "none")
    assert (sso[CALLBACK].method, sso[CALLBACK].credential) == ("GET", "state")
    assert all(route.perm is None for route in sso.values())
