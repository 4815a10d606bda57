"""Users single sign-on creates: roles written over at each sync, no password that could ever match, and a
local (break-glass) user never taken over by a directory account of the same name."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from nornflow.gateway.errors import UserExistsError
from nornflow.gateway.store import GatewayStore


def test_an_external_user_holds_exactly_what_the_groups_grant(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path / "gateway.db")
    assert store.user_kind("olivia") is None
    user, before = store.sync_external_user("olivia", {"core": ["owner", "runner"], "dc": ["viewer"]})
    assert before == {} and user.roles == {"core": {"owner", "runner"}, "dc": {"viewer"}}
    assert store.user_kind("olivia") == "external"
    _, token = store.create_token("olivia", "core", ["owner"], timedelta(hours=1))
    assert store.verify_token(token) is not None
    user, before = store.sync_external_user("olivia", {"core": ["runner"]})
    assert before == {"core": {"owner", "runner"}, "dc": {"viewer"}} and user.roles == {"core": {"runner"}}
    assert store.verify_token(token) is None  # the owner token outlived the group: refused at once
    user, _ = store.sync_external_user("olivia", {})
    assert user.roles == {}


def test_no_password_opens_an_external_user(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path / "gateway.db")
    store.sync_external_user("olivia", {"core": ["viewer"]})
    for guess in ("!sso", "", "olivia", "correct-horse-battery"):
        assert store.authenticate("olivia", guess) is None


def test_a_local_user_is_never_taken_over(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path / "gateway.db")
    store.add_user("otto", "break-glass-password", {"core": ["owner"]})
    assert store.user_kind("otto") == "local"
    with pytest.raises(UserExistsError, match="local user"):
        store.sync_external_user("otto", {"core": ["viewer"]})
    assert store.get_user("otto") is not None and store.get_user("otto").roles == {"core": {"owner"}}  # type: ignore[union-attr]
    assert store.authenticate("otto", "break-glass-password") is not None
