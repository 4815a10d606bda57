"""The team-mode CLI, run as a person runs it: users, tokens and the audit log, in a fresh data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "a-long-enough-password"


def nornflow(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    env["NORNFLOW_DATA_DIR"] = str(data_dir)
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
