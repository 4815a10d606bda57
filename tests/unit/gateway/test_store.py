import sqlite3
import string
import threading
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from nornflow.exceptions import NornFlowError
from nornflow.gateway.errors import (
    AuthError,
    InvalidNameError,
    RoleError,
    TokenScopeError,
    UnknownSigningKeyError,
    UnknownTokenError,
    UnknownUserError,
    UserExistsError,
    WeakPasswordError,
)
from nornflow.gateway.store import GatewayStore

PASSWORD = "correct horse battery staple"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    with GatewayStore(tmp_path / "gw" / "gateway.db", now=clock, hasher=FAST) as s:
        s.add_user("alice", PASSWORD, {"core": ["runner", "viewer"], "edge": ["viewer"]})
        yield s


def _file_bytes(store: GatewayStore) -> bytes:
    store._db.execute("PRAGMA wal_checkpoint(FULL)")
    return b"".join(p.read_bytes() for p in store.path.parent.iterdir() if p.is_file())


# users ---------------------------------------------------------------------


def test_authenticate_right_wrong_unknown_and_disabled(store):
    user = store.authenticate("alice", PASSWORD)
    assert user is not None and user.name == "alice" and not user.disabled
    assert user.roles == {"core": frozenset({"runner", "viewer"}), "edge": frozenset({"viewer"})}
    assert store.authenticate("alice", PASSWORD + "x") is None
    assert store.authenticate("nobody", PASSWORD) is None
    store.disable("alice")
    assert store.authenticate("alice", PASSWORD) is None
    assert store.get_user("alice").disabled
    store.enable("alice")
    assert store.authenticate("alice", PASSWORD) is not None


def test_passwords_are_argon2_hashes_and_never_shown(store):
    assert PASSWORD.encode() not in _file_bytes(store)
    (hashed,) = store._db.execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()
    assert hashed.startswith("$argon2id$")
    user = store.get_user("alice")
    assert PASSWORD not in repr(user) and "argon2" not in repr(user)
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_a_short_password_is_refused_without_echoing_it(store):
    with pytest.raises(WeakPasswordError) as info:
        store.add_user("bob", "short-pw")
    assert isinstance(info.value, ValueError) and isinstance(info.value, NornFlowError)
    assert "12" in str(info.value) and "short-pw" not in str(info.value)
    with pytest.raises(WeakPasswordError):
        store.set_password("alice", "tiny")


def test_names_roles_and_duplicates_are_checked(store):
    with pytest.raises(UserExistsError):
        store.add_user("alice", PASSWORD)
    for bad in ("Alice", "a:b", "", "x" * 65):
        with pytest.raises(InvalidNameError):
            store.add_user(bad, PASSWORD)
    with pytest.raises(RoleError, match="superuser"):
        store.add_user("bob", PASSWORD, {"core": ["superuser"]})
    with pytest.raises(InvalidNameError):
        store.grant("alice", "Core Net", ["viewer"])
    with pytest.raises(UnknownUserError) as info:
        store.grant("nobody", "core", ["viewer"])
    assert isinstance(info.value, KeyError) and str(info.value) == "no user named 'nobody': create it first"
    assert store.get_user("nobody") is None


def test_grant_revoke_and_list(store):
    store.add_user("bob", PASSWORD)
    store.grant("bob", "core", "approver")  # one role given as a string
    store.grant("bob", "core", ["viewer", "approver"])
    assert store.get_user("bob").roles == {"core": frozenset({"approver", "viewer"})}
    store.revoke_roles("bob", "core", ["approver"])
    assert store.get_user("bob").roles_in("core") == frozenset({"viewer"})
    store.revoke_roles("bob", "core")
    assert store.get_user("bob").roles == {}
    assert [u.name for u in store.list_users()] == ["alice", "bob"]


def test_set_password_replaces_it_and_ends_sessions(store):
    session = store.create_session("alice", timedelta(minutes=30), timedelta(hours=12))
    store.set_password("alice", "a brand new passphrase")
    assert store.authenticate("alice", PASSWORD) is None
    assert store.authenticate("alice", "a brand new passphrase") is not None
    assert store.get_session(session) is None


def test_hashes_are_upgraded_when_the_parameters_change(tmp_path, store):
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    with GatewayStore(store.path, hasher=stronger) as other:
        assert other.authenticate("alice", PASSWORD) is not None
        (hashed,) = other._db.execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()
    assert "m=2048,t=2" in hashed
    assert store.authenticate("alice", PASSWORD) is not None


# tokens --------------------------------------------------------------------


def test_create_verify_list_revoke(store, clock):
    info, token = store.create_token("alice", "core", ["runner"], timedelta(days=90), description="worker on lab1")
    assert ":" not in token and set(token) <= set(string.ascii_letters + string.digits + "_")
    assert token.startswith(f"nft_{info.id}_{info.kid}_")
    assert info.expires_at == clock.now + timedelta(days=90)
    verified = store.verify_token(token)
    assert verified is not None and (verified.id, verified.user, verified.workspace) == (info.id, "alice", "core")
    assert verified.roles == frozenset({"runner"}) and verified.last_used_at == clock.now
    listed = store.list_tokens(user="alice", workspace="core")
    assert [t.id for t in listed] == [info.id] and listed[0].description == "worker on lab1"
    assert store.list_tokens(workspace="edge") == []
    store.revoke_token(info.id)
    assert store.verify_token(token) is None
    assert store.list_tokens()[0].revoked_at == clock.now
    with pytest.raises(UnknownTokenError):
        store.revoke_token("0000000000000000")


def test_the_token_value_is_never_stored_or_shown(store):
    info, token = store.create_token("alice", "core", ["viewer"], None)
    secret_part = token.split("_")[3]
    assert token.encode() not in _file_bytes(store) and secret_part.encode() not in _file_bytes(store)
    assert secret_part not in repr(info) and secret_part not in repr(store.list_tokens())
    assert secret_part not in repr(store.verify_token(token))
    assert info.expires_at is None


def test_forged_or_malformed_tokens_are_refused(store):
    _, token = store.create_token("alice", "core", ["viewer"], None)
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    other_random = token.replace(token.split("_")[3], "f" * 32)
    for bad in (flipped, other_random, "", "nft_", token + "0", token.upper(), "alice:" + token, None, 42):
        assert store.verify_token(bad) is None  # type: ignore[arg-type]
    assert store.verify_token(token) is not None


def test_expired_tokens_are_refused(store, clock):
    _, token = store.create_token("alice", "core", ["viewer"], timedelta(hours=1))
    clock.advance(minutes=59)
    assert store.verify_token(token) is not None
    clock.advance(minutes=1)
    assert store.verify_token(token) is None
    with pytest.raises(ValueError, match="ttl"):
        store.create_token("alice", "core", ["viewer"], timedelta(seconds=-1))


def test_a_token_may_not_exceed_its_users_roles(store):
    with pytest.raises(TokenScopeError) as info:
        store.create_token("alice", "core", ["runner", "owner"], None)
    assert isinstance(info.value, PermissionError)
    assert "owner" in str(info.value) and "core" in str(info.value)
    with pytest.raises(TokenScopeError):
        store.create_token("alice", "lab", ["viewer"], None)
    with pytest.raises(RoleError):
        store.create_token("alice", "core", [], None)
    store.disable("alice")
    with pytest.raises(AuthError):
        store.create_token("alice", "core", ["viewer"], None)


def test_tokens_stop_when_the_user_is_disabled_or_loses_the_roles(store):
    _, token = store.create_token("alice", "core", ["runner"], None)
    store.disable("alice")
    assert store.verify_token(token) is None
    store.enable("alice")
    assert store.verify_token(token) is not None
    store.revoke_roles("alice", "core", ["runner"])
    assert store.verify_token(token) is None


def test_rotation_keeps_old_tokens_and_retiring_ends_them(store):
    first_kid = store.signing_keys()[0].kid
    old_info, old = store.create_token("alice", "core", ["viewer"], None)
    assert old_info.kid == first_kid
    new_kid = store.rotate_signing_key()
    new_info, new = store.create_token("alice", "core", ["viewer"], None)
    assert new_info.kid == new_kid != first_kid
    assert store.verify_token(old) is not None and store.verify_token(new) is not None
    store.retire_signing_key(first_kid)
    assert store.verify_token(old) is None
    assert store.verify_token(new) is not None
    keys = {k.kid: k for k in store.signing_keys()}
    assert not keys[first_kid].active and keys[new_kid].active
    assert "secret" not in repr(keys)
    with pytest.raises(UnknownSigningKeyError):
        store.retire_signing_key("ffffffff")


def test_retiring_every_key_makes_a_fresh_one_for_new_tokens(store):
    for key in store.signing_keys():
        store.retire_signing_key(key.kid)
    info, token = store.create_token("alice", "core", ["viewer"], None)
    assert store.verify_token(token) is not None
    assert [k.kid for k in store.signing_keys() if k.active] == [info.kid]


def test_last_used_is_written_at_most_once_a_minute(store, clock):
    _, token = store.create_token("alice", "core", ["viewer"], None)
    first = clock.now
    store.verify_token(token)
    clock.advance(seconds=30)
    store.verify_token(token)
    assert store.list_tokens()[0].last_used_at == first
    clock.advance(seconds=31)
    store.verify_token(token)
    assert store.list_tokens()[0].last_used_at == clock.now


def test_another_process_revocation_is_seen_after_the_cache_ttl(store):
    _, token = store.create_token("alice", "core", ["viewer"], None)
    with GatewayStore(store.path, hasher=FAST, cache_ttl=0) as gateway:
        assert gateway.verify_token(token) is not None
        store.revoke_token(store.list_tokens()[0].id)
        assert gateway.verify_token(token) is None


def test_verification_is_fast_and_thread_safe(store):
    _, token = store.create_token("alice", "core", ["viewer"], None)
    failures = []

    def worker() -> None:
        for _ in range(300):
            if store.verify_token(token) is None:
                failures.append(1)
        store.create_session("alice", timedelta(minutes=5), timedelta(hours=1))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert store.delete_user_sessions("alice") == 8


# sessions ------------------------------------------------------------------


def test_session_round_trip_and_secrets_not_stored(store, clock):
    session_id = store.create_session("alice", timedelta(minutes=30), timedelta(hours=12))
    assert len(session_id) >= 43  # 256 bits, url-safe base64
    session = store.get_session(session_id)
    assert session is not None and session.user == "alice" and session.created_at == clock.now
    assert session.expires_at == clock.now + timedelta(minutes=30)
    assert len(session.csrf_token) >= 43 and session.csrf_token not in repr(session)
    assert session_id.encode() not in _file_bytes(store)
    assert store.get_session(session_id + "x") is None
    store.delete_session(session_id)
    assert store.get_session(session_id) is None


def test_sessions_end_after_idle_time_and_activity_slides_it(store, clock):
    session_id = store.create_session("alice", timedelta(minutes=10), timedelta(hours=1))
    clock.advance(minutes=9)
    assert store.get_session(session_id) is not None  # slides the idle expiry
    clock.advance(minutes=9)
    assert store.get_session(session_id) is not None
    clock.advance(minutes=10)
    assert store.get_session(session_id) is None


def test_sliding_is_written_at_most_every_30_seconds(store, clock):
    session_id = store.create_session("alice", timedelta(minutes=1), timedelta(hours=1))
    clock.advance(seconds=20)
    assert store.get_session(session_id) is not None  # too soon to write
    clock.advance(seconds=40)
    assert store.get_session(session_id) is None


def test_sessions_end_at_the_absolute_limit_despite_activity(store, clock):
    session_id = store.create_session("alice", timedelta(minutes=10), timedelta(minutes=30))
    for _ in range(3):
        clock.advance(minutes=9)
        session = store.get_session(session_id)
        assert session is not None
    assert session.expires_at == clock.now.replace(minute=30)  # capped by the absolute limit
    assert session.absolute_expires_at == clock.now.replace(minute=30)
    clock.advance(minutes=3)
    assert store.get_session(session_id) is None


def test_disabled_users_lose_their_sessions(store):
    session_id = store.create_session("alice", timedelta(minutes=10), timedelta(hours=1))
    store.disable("alice")
    assert store.get_session(session_id) is None
    with pytest.raises(AuthError):
        store.create_session("alice", timedelta(minutes=10), timedelta(hours=1))


def test_purge_expired_sessions(store, clock):
    store.create_session("alice", timedelta(minutes=1), timedelta(hours=1))
    live = store.create_session("alice", timedelta(minutes=30), timedelta(hours=1))
    clock.advance(minutes=5)
    assert store.purge_expired_sessions() == 1
    assert store.get_session(live) is not None


# four-eyes -----------------------------------------------------------------


def test_run_starters(store):
    store.record_run_starter("core", "9b2f-run", "alice")
    store.record_run_starter("core", "9b2f-run", "mallory")  # the first record wins
    assert store.run_starter("core", "9b2f-run") == "alice"
    assert store.run_starter("edge", "9b2f-run") is None


def test_a_reopened_store_keeps_everything(tmp_path, store):
    info, token = store.create_token("alice", "core", ["viewer"], None)
    store.close()
    with GatewayStore(store.path, hasher=FAST) as again:
        assert again.verify_token(token).id == info.id
        assert again.authenticate("alice", PASSWORD) is not None
        assert len(again.signing_keys()) == 1
        rows = sqlite3.connect(again.path).execute("PRAGMA journal_mode").fetchone()
        assert rows == ("wal",)
