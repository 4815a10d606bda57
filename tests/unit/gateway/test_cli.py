"""The team-mode CLI, run as a person runs it: users, tokens and the audit log, in a fresh data dir."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

PASSWORD = "a-long-enough-password"


def nornflow(data_dir: Path, *args: str, stdin: str | None = None,
             **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    env["NORNFLOW_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return subprocess.run([sys.executable, "-m", "nornflow.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gw-cli")
    done = nornflow(path, "users", "add", "alice", "--workspace", "core", "--role", "approver", "--role", "viewer",
                    "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return path


def test_users_list_shows_roles_and_never_a_hash(data_dir: Path) -> None:
    listed = nornflow(data_dir, "users", "list")
    assert listed.returncode == 0
    assert "alice" in listed.stdout and "approver,viewer" in listed.stdout
    assert "argon2" not in listed.stdout and PASSWORD not in listed.stdout


def test_weak_password_and_unknown_role_are_clear_errors(data_dir: Path) -> None:
    weak = nornflow(data_dir, "users", "add", "bob", "--workspace", "core", "--role", "viewer", "--password-stdin",
                    stdin="short\n")
    assert weak.returncode == 2 and weak.stderr.startswith("nornflow:") and "Traceback" not in weak.stderr
    role = nornflow(data_dir, "users", "add", "bob", "--workspace", "core", "--role", "superuser",
                    "--password-stdin", stdin=PASSWORD + "\n")
    assert role.returncode == 2 and "superuser" in role.stderr and "viewer" in role.stderr


def test_token_create_list_revoke(data_dir: Path) -> None:
    created = nornflow(data_dir, "token", "create", "--user", "alice", "--workspace", "core", "--role", "viewer",
                       "--ttl", "2h", "--description", "ci")
    assert created.returncode == 0, created.stderr
    line = created.stdout.strip()
    assert line.startswith('PREFECT_API_AUTH_STRING="alice:') and line.endswith('"')
    secret = line.split(":", 1)[1].rstrip('"')
    token_id = created.stderr.split()[1]
    listed = nornflow(data_dir, "token", "list", "--user", "alice")
    assert token_id in listed.stdout and "active" in listed.stdout and secret not in listed.stdout
    too_much = nornflow(data_dir, "token", "create", "--user", "alice", "--workspace", "core", "--role", "owner")
    assert too_much.returncode == 2 and "owner" in too_much.stderr
    bad_ttl = nornflow(data_dir, "token", "create", "--user", "alice", "--workspace", "core", "--role", "viewer",
                       "--ttl", "forever")
    assert bad_ttl.returncode == 2 and "--ttl" in bad_ttl.stderr
    revoked = nornflow(data_dir, "token", "revoke", token_id)
    assert revoked.returncode == 0
    assert "revoked" in nornflow(data_dir, "token", "list", "--user", "alice").stdout
    audit = (data_dir / "audit.jsonl").read_text()
    assert secret not in audit and token_id in audit


def test_audit_tail_and_verify_detect_an_edit(data_dir: Path) -> None:
    tail = nornflow(data_dir, "audit", "tail", "--since", "1h")
    assert tail.returncode == 0 and "user.add" in tail.stdout and "token.create" in tail.stdout
    assert nornflow(data_dir, "audit", "verify").returncode == 0
    path = data_dir / "audit.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["user"] = "mallory"
    tampered = [lines[0], json.dumps(record), *lines[2:]]
    original = path.read_text()
    path.write_text("\n".join(tampered) + "\n")
    try:
        verify = nornflow(data_dir, "audit", "verify")
        assert verify.returncode == 1 and "TAMPERED" in verify.stderr and str(record["seq"]) in verify.stderr
    finally:
        path.write_text(original)


def _records(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]


def test_records_name_the_operator_as_user_and_the_target_in_detail(tmp_path: Path) -> None:
    assert nornflow(tmp_path, "users", "add", "carol", "--workspace", "core", "--role", "viewer",
                    "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    created = nornflow(tmp_path, "token", "create", "--user", "carol", "--workspace", "core", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    token_id = created.stderr.split()[1]
    assert nornflow(tmp_path, "token", "revoke", token_id).returncode == 0
    assert nornflow(tmp_path, "users", "disable", "carol").returncode == 0
    operator = getpass.getuser()
    records = _records(tmp_path)
    assert [r["action"] for r in records] == ["user.add", "token.create", "token.revoke", "user.disable"]
    assert all(r["user"] == operator and r["detail"]["target_user"] == "carol" for r in records)
    assert records[2]["workspace"] == "core"  # a revoke is recorded in the token's workspace
    by_carol = nornflow(tmp_path, "audit", "tail", "--user", "carol")
    assert by_carol.returncode == 0 and by_carol.stdout == ""
    to_carol = nornflow(tmp_path, "audit", "tail", "--target", "carol")
    assert [line.split()[4] for line in to_carol.stdout.splitlines()] == [
        "user.add", "token.create", "token.revoke", "user.disable"]
    by_operator = nornflow(tmp_path, "audit", "tail", "--user", operator, "--action", "token")
    assert len(by_operator.stdout.splitlines()) == 2


def test_since_takes_durations_and_iso_dates(tmp_path: Path) -> None:
    assert nornflow(tmp_path, "token", "rotate-key").returncode == 0
    today = datetime.now(UTC).date()
    for since in ("1h", today.isoformat(), f"{today.isoformat()}T00:00", f"{today.isoformat()}T00:00+00:00"):
        tail = nornflow(tmp_path, "audit", "tail", "--since", since)
        assert tail.returncode == 0 and "token.rotate_key" in tail.stdout, since
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert nornflow(tmp_path, "audit", "tail", "--since", tomorrow).stdout == ""
    bad = nornflow(tmp_path, "audit", "tail", "--since", "last tuesday")
    assert bad.returncode == 2 and "--since 'last tuesday'" in bad.stderr and "ISO" in bad.stderr


def test_key_rotation_can_be_finished_from_the_cli(tmp_path: Path) -> None:
    assert nornflow(tmp_path, "users", "add", "svc", "--workspace", "core", "--role", "worker",
                    "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    old = nornflow(tmp_path, "token", "create", "--user", "svc", "--workspace", "core", "--role", "worker")
    old_secret = old.stdout.strip().split(":", 1)[1].rstrip('"')
    old_kid = old_secret.split("_")[2]
    rotated = nornflow(tmp_path, "token", "rotate-key")
    new_kid = rotated.stdout.split()[3].rstrip(":")
    assert rotated.returncode == 0 and new_kid != old_kid
    keys = nornflow(tmp_path, "token", "keys")
    rows = {line.split()[0]: line.split() for line in keys.stdout.splitlines()[1:]}
    assert rows[old_kid][2:] == ["active", "1"] and rows[new_kid][2:] == ["signing", "0"]
    refused = nornflow(tmp_path, "token", "retire-key", new_kid)
    assert refused.returncode == 2 and "signs new tokens" in refused.stderr and "rotate-key" in refused.stderr
    unknown = nornflow(tmp_path, "token", "retire-key", "ffffffff")
    assert unknown.returncode == 2 and "token keys" in unknown.stderr
    retired = nornflow(tmp_path, "token", "retire-key", old_kid)
    assert retired.returncode == 0 and "1 token(s)" in retired.stdout
    rows = {line.split()[0]: line.split() for line in nornflow(tmp_path, "token", "keys").stdout.splitlines()[1:]}
    assert rows[old_kid][2] == "retired"
    from nornflow.gateway.store import GatewayStore

    with GatewayStore(tmp_path / "gateway.db") as store:
        assert store.verify_token(old_secret) is None
    actions = [(r["action"], r["detail"].get("kid")) for r in _records(tmp_path)]
    assert ("token.retire_key", old_kid) in actions and ("token.keys", None) in actions
    assert ("token.retire_key", new_kid) not in actions
    assert nornflow(tmp_path, "audit", "verify").returncode == 0


def test_as_an_owner_acts_only_in_owned_workspaces_and_is_recorded(tmp_path: Path) -> None:
    assert nornflow(tmp_path, "users", "add", "otto", "--workspace", "core", "--role", "owner",
                    "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert nornflow(tmp_path, "users", "add", "dana", "--workspace", "datacenter", "--role", "viewer",
                    "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    added = nornflow(tmp_path, "users", "add", "bob", "--workspace", "core", "--role", "viewer", "--as", "otto",
                     "--password-stdin", stdin=PASSWORD + "\n", NORNFLOW_AS_PASSWORD=PASSWORD)
    assert added.returncode == 0, added.stderr
    record = _records(tmp_path)[-1]
    assert (record["user"], record["detail"]["target_user"]) == ("otto", "bob")
    assert record["detail"]["os_user"] == getpass.getuser()
    other = nornflow(tmp_path, "users", "add", "eve", "--workspace", "datacenter", "--role", "viewer",
                     "--as", "otto", "--password-stdin", stdin=PASSWORD + "\n", NORNFLOW_AS_PASSWORD=PASSWORD)
    assert other.returncode == 2 and "owner role in datacenter" in other.stderr
    assert nornflow(tmp_path, "users", "disable", "dana", "--as", "otto",
                    NORNFLOW_AS_PASSWORD=PASSWORD).returncode == 2
    wrong = nornflow(tmp_path, "token", "create", "--user", "bob", "--workspace", "core", "--role", "viewer",
                     "--as", "otto", NORNFLOW_AS_PASSWORD="not-the-password")
    assert wrong.returncode == 2 and "wrong password" in wrong.stderr
    listed = nornflow(tmp_path, "users", "list", "--as", "otto", NORNFLOW_AS_PASSWORD=PASSWORD)
    assert "bob" in listed.stdout and "dana" not in listed.stdout
    keys = nornflow(tmp_path, "token", "keys", "--as", "otto", NORNFLOW_AS_PASSWORD=PASSWORD)
    assert keys.returncode == 2 and "without --as" in keys.stderr
    not_owner = nornflow(tmp_path, "users", "list", "--as", "bob", NORNFLOW_AS_PASSWORD=PASSWORD)
    assert not_owner.returncode == 2 and "owner role in no workspace" in not_owner.stderr
    assert PASSWORD not in (tmp_path / "audit.jsonl").read_text()


def test_verify_finds_the_newest_record_deleted(tmp_path: Path) -> None:
    for _ in range(3):
        assert nornflow(tmp_path, "token", "rotate-key").returncode == 0
    path = tmp_path / "audit.jsonl"
    assert nornflow(tmp_path, "audit", "verify").returncode == 0
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    verify = nornflow(tmp_path, "audit", "verify")
    assert verify.returncode == 1 and "TAMPERED" in verify.stderr and "newest 1 record(s) were deleted" in verify.stderr
