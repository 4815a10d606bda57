"""The admin page's rules are the CLI's ``--as OWNER`` rules, and its audit records are the CLI's records."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher

from nornflow.gateway.admin.actions import Admin, AdminRefused, Owner, group_mappings, owner_of, token_state
from nornflow.gateway.admin.pages import admin_page, token_created_page
from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.errors import TokenScopeError, WeakPasswordError
from nornflow.gateway.store import GatewayStore

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct-horse-battery"  # test users only
WORKSPACES = ("core", "datacenter")


@pytest.fixture
def admin(tmp_path: Path) -> Admin:
    store = GatewayStore(tmp_path / "gateway.db", hasher=FAST)
    store.add_user("otto", PASSWORD, {"core": ["owner"], "datacenter": ["viewer"]})
    store.add_user("vera", PASSWORD, {"core": ["viewer"]})
    store.add_user("dana", PASSWORD, {"datacenter": ["developer"]})
    store.add_user("mixed", PASSWORD, {"core": ["viewer"], "datacenter": ["viewer"]})
    return Admin(store, AuditLog(tmp_path / "audit.jsonl"), WORKSPACES, token_ttl_days=90)


@pytest.fixture
def otto(admin: Admin) -> Owner:
    owner = owner_of(admin.store.get_user("otto"), WORKSPACES)
    assert owner is not None
    return owner


def test_only_owners_of_a_configured_workspace_are_owners(admin: Admin) -> None:
    assert owner_of(admin.store.get_user("vera"), WORKSPACES) is None
    owner = owner_of(admin.store.get_user("otto"), WORKSPACES)
    assert owner is not None and owner.owns == frozenset({"core"})
    assert owner_of(admin.store.get_user("otto"), ("datacenter",)) is None  # owns no configured workspace
    admin.store.disable("otto")
    assert owner_of(admin.store.get_user("otto"), WORKSPACES) is None


def test_users_list_shows_only_roles_in_owned_workspaces(admin: Admin, otto: Owner) -> None:
    shown = {user.name: roles for user, roles in admin.users(otto)}
    assert shown == {"mixed": {"core": ["viewer"]}, "otto": {"core": ["owner"]}, "vera": {"core": ["viewer"]}}


def test_add_and_grant_only_in_owned_workspaces(admin: Admin, otto: Owner) -> None:
    action, workspace, detail = admin.user_action(otto, "add", "nina", workspace="core", roles=["runner", "viewer"],
                                                  password=PASSWORD)
    assert (action, workspace, detail) == ("user.add", "core", {"target_user": "nina", "roles": ["runner", "viewer"]})
    assert admin.store.get_user("nina").roles == {"core": frozenset({"runner", "viewer"})}
    with pytest.raises(AdminRefused, match="datacenter"):
        admin.user_action(otto, "grant", "nina", workspace="datacenter", roles=["owner"])
    with pytest.raises(AdminRefused, match="datacenter"):
        admin.user_action(otto, "add", "eve", workspace="datacenter", roles=["viewer"], password=PASSWORD)
    assert admin.store.get_user("eve") is None
    with pytest.raises(WeakPasswordError):
        admin.user_action(otto, "add", "short", workspace="core", roles=["viewer"], password="tiny")


def test_disable_enable_passwd_need_every_workspace_the_user_holds(admin: Admin, otto: Owner) -> None:
    assert admin.user_action(otto, "disable", "vera")[0] == "user.disable"
    assert admin.store.get_user("vera").disabled
    admin.user_action(otto, "enable", "vera")
    assert not admin.store.get_user("vera").disabled
    for action in ("disable", "enable", "passwd"):
        with pytest.raises(AdminRefused, match="datacenter"):
            admin.user_action(otto, action, "mixed", password=PASSWORD + "x")
        with pytest.raises(AdminRefused, match="datacenter"):
            admin.user_action(otto, action, "dana", password=PASSWORD + "x")
    assert not admin.store.get_user("dana").disabled
    admin.user_action(otto, "passwd", "vera", password=PASSWORD + "-new")
    assert admin.store.authenticate("vera", PASSWORD + "-new") is not None


def test_tokens_created_listed_and_revoked_within_owned_workspaces(admin: Admin, otto: Owner) -> None:
    info, secret, detail = admin.create_token(otto, "vera", "core", ["viewer"], timedelta(days=1), "ci")
    assert secret.startswith("nft_") and admin.store.verify_token(secret) is not None
    assert detail == {"target_user": "vera", "token_id": info.id, "roles": ["viewer"],
                      "expires_at": str(info.expires_at), "kid": info.kid}
    assert secret not in repr(detail)
    with pytest.raises(TokenScopeError):
        admin.create_token(otto, "vera", "core", ["owner"], None)
    with pytest.raises(AdminRefused):
        admin.create_token(otto, "dana", "datacenter", ["viewer"], None)
    other, _ = admin.store.create_token("dana", "datacenter", ["developer"], timedelta(days=1))
    assert [t.id for t in admin.tokens(otto)] == [info.id]
    with pytest.raises(AdminRefused):
        admin.revoke_token(otto, other.id)
    assert admin.revoke_token(otto, info.id) == ("core", {"token_id": info.id, "target_user": "vera"})
    assert admin.store.verify_token(secret) is None and token_state(admin.tokens(otto)[0]) == "revoked"


def test_audit_records_match_the_cli_and_stay_in_owned_workspaces(admin: Admin, otto: Owner) -> None:
    action, workspace, detail = admin.user_action(otto, "grant", "vera", workspace="core", roles=["runner"])
    admin.record(otto, action, workspace, detail, ip="127.0.0.1", path="/admin/users/grant")
    admin.audit.append("user.grant", workspace="datacenter", user="root", detail={"target_user": "dana"})
    admin.audit.append("login.ok", workspace="", user="dana")  # a user otto does not manage
    admin.audit.append("login.ok", workspace="", user="vera")
    records = admin.audit_records(otto)
    assert [(r["action"], r["user"]) for r in records] == [("login.ok", "vera"), ("user.grant", "otto")]
    grant = records[1]
    # The CLI writes: user=<operator>, action user.grant, detail {target_user, roles, via}.
    assert grant["detail"] == {"target_user": "vera", "roles": ["runner"], "via": "admin"}
    assert (grant["workspace"], grant["outcome"], grant["method"], grant["path"]) == (
        "core", "ok", "POST", "/admin/users/grant")
    assert [r["action"] for r in admin.audit_records(otto, target="vera")] == ["user.grant"]
    with pytest.raises(AdminRefused):
        admin.audit_records(otto, workspace="datacenter")


def test_group_mapping_is_read_from_the_settings() -> None:
    none = SimpleNamespace(model_dump=lambda mode: {"port": 8780, "workspaces": []})
    assert group_mappings(none) == []
    sso = {"sso": {"group_roles": {"netops": {"core": ["developer", "viewer"]}, "noc": {"core": ["viewer"]}},
                   "ldap": {"group_base": "ou=groups"}}, "workspaces": [{"name": "core"}]}
    rows = group_mappings(SimpleNamespace(model_dump=lambda mode: sso))
    assert rows == [("sso.group_roles", "netops", "core: developer, viewer"),
                    ("sso.group_roles", "noc", "core: viewer")]


def test_pages_escape_what_people_typed_and_carry_the_csrf_token(admin: Admin, otto: Owner) -> None:
    info, secret, _ = admin.create_token(otto, "vera", "core", ["viewer"], None, "<script>alert(1)</script>")
    page = admin_page(owner="otto", owns=otto.owns, csrf="CSRF-VALUE", users=admin.users(otto),
                      tokens=admin.tokens(otto), roles=["viewer", "owner"], groups=[], audit=[],
                      audit_filter={"user": "'><script>"}, notice="", error="")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("name=csrf value='CSRF-VALUE'") == page.count("method=post")
    assert "none configured" in page and secret not in page
    created = token_created_page(owner="otto", owns=otto.owns, info=info, secret=secret)
    assert f'PREFECT_API_AUTH_STRING="vera:{secret}"' in created


def test_the_single_sign_on_mapping_is_shown_for_the_owned_workspaces(tmp_path: Path) -> None:
    from nornflow.gateway.admin.actions import sign_on
    from nornflow.gateway.settings import load_settings

    settings = load_settings(None, data_dir=tmp_path, workspaces=[{"name": "core"}, {"name": "datacenter"}],
                             sso={"group_roles": {"netops": {"core": ["viewer", "developer"], "datacenter": ["owner"]},
                                                  "dc-only": {"datacenter": ["viewer"]}}, "local_login": False})
    assert group_mappings(settings, {"core"}) == [("sso.group_roles", "netops", "core: developer, viewer")]
    assert len(group_mappings(settings)) == 2
    assert sign_on(settings) == ["local passwords turned off"]
    assert group_mappings(load_settings(None, data_dir=tmp_path), {"default"}) == []
