"""The team-mode CLI, run as a person runs it: users, tokens and the audit log, in a fresh data dir."""

from __future__ import annotations

import getpass
import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "a-long-enough-password"


def _env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    env["NORNFLOW_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def nornflow(data_dir: Path, *args: str, stdin: str | None = None,
             **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a script or CI job does: in its own session, so with no terminal to prompt on
    (a prompt can never wait for the person running the tests)."""
    return subprocess.run([sys.executable, "-m", "nornflow.cli", *args], input=stdin, env=_env(data_dir, extra),
                          capture_output=True, text=True, timeout=120, check=False, start_new_session=True)


def created_token(done: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """(token id, "<user>:<secret>") from what `token create` prints on stdout, parsed as documented."""
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    values = dict(line.split("=", 1) for line in lines)
    assert set(values) == {"NORNFLOW_TOKEN_ID", "PREFECT_API_AUTH_STRING"}, lines
    auth = values["PREFECT_API_AUTH_STRING"]
    assert auth.startswith('"') and auth.endswith('"'), auth
    return values["NORNFLOW_TOKEN_ID"], auth[1:-1]


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
    token_id, auth = created_token(created)
    assert auth.startswith("alice:nft_")
    secret = auth.split(":", 1)[1]
    assert created.stderr.split()[:2] == ["token", token_id] and secret not in created.stderr
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


def _records(data_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]


def test_records_name_the_operator_as_user_and_the_target_in_detail(tmp_path: Path) -> None:
    assert nornflow(tmp_path, "users", "add", "carol", "--workspace", "core", "--role", "viewer",
                    "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    created = nornflow(tmp_path, "token", "create", "--user", "carol", "--workspace", "core", "--role", "viewer")
    token_id, _ = created_token(created)
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
    old_secret = created_token(old)[1].split(":", 1)[1]
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


def _user_names(data_dir: Path) -> list[str]:
    listed = nornflow(data_dir, "users", "list")
    assert listed.returncode == 0, listed.stderr
    return [line.split()[0] for line in listed.stdout.splitlines()]


def test_without_a_terminal_a_password_prompt_says_to_use_password_stdin(tmp_path: Path) -> None:
    """`echo pw | nornflow users add ...` in CI: one clear line naming --password-stdin, not an EOFError."""
    piped = nornflow(tmp_path, "users", "add", "bob", "--workspace", "core", "--role", "viewer", stdin=PASSWORD + "\n")
    assert piped.returncode == 2, piped.stderr
    assert piped.stderr.startswith("nornflow: no terminal to ask for the password of bob")
    assert "--password-stdin" in piped.stderr and "NORNFLOW_NEW_PASSWORD" in piped.stderr
    assert len(piped.stderr.splitlines()) == 1  # no getpass warning, no echoed prompt, no traceback
    assert "EOFError" not in piped.stderr and PASSWORD not in piped.stderr + piped.stdout
    assert "bob" not in _user_names(tmp_path)
    added = nornflow(tmp_path, "users", "add", "bob", "--workspace", "core", "--role", "viewer", "--password-stdin",
                     stdin=PASSWORD + "\r\n")  # a CRLF line ending is not part of the password
    assert added.returncode == 0, added.stderr
    passwd = nornflow(tmp_path, "users", "passwd", "bob", stdin="another-long-password\n")
    assert passwd.returncode == 2 and "users passwd bob ... --password-stdin" in passwd.stderr
    empty = nornflow(tmp_path, "users", "passwd", "bob", "--password-stdin", stdin="")
    assert empty.returncode == 2 and "stdin held no password" in empty.stderr
    from nornflow.gateway.store import GatewayStore

    with GatewayStore(tmp_path / "gateway.db") as store:
        assert store.authenticate("bob", PASSWORD) is not None  # neither refusal changed the password
    assert nornflow(tmp_path, "users", "passwd", "bob", "--password-stdin",
                    stdin="another-long-password\nignored second line\n").returncode == 0
    with GatewayStore(tmp_path / "gateway.db") as store:
        assert store.authenticate("bob", PASSWORD) is None
        assert store.authenticate("bob", "another-long-password") is not None


def test_as_without_a_terminal_needs_its_variable_and_leaves_stdin_to_password_stdin(tmp_path: Path) -> None:
    assert nornflow(tmp_path, "users", "add", "otto", "--workspace", "core", "--role", "owner",
                    "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    # Before, getpass fell back to stdin: it took the new user's password as otto's and failed as a wrong password.
    refused = nornflow(tmp_path, "users", "add", "bob", "--workspace", "core", "--role", "viewer", "--as", "otto",
                       "--password-stdin", stdin=PASSWORD + "\n")
    assert refused.returncode == 2 and "NORNFLOW_AS_PASSWORD" in refused.stderr and "no terminal" in refused.stderr
    assert "bob" not in _user_names(tmp_path)


def _on_a_terminal(data_dir: Path, args: list[str], answers: list[tuple[bytes, str]]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal, answering each prompt as a person types."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        try:
            os.execve(sys.executable, [sys.executable, "-m", "nornflow.cli", *args], _env(data_dir, {}))
        finally:
            os._exit(127)
    output, seen, deadline = b"", 0, time.monotonic() + 120
    pending = list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"the CLI hung on its terminal; it wrote {output!r}"
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child has closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and pending[0][0] in output[seen:]:
                seen = output.index(pending[0][0], seen) + len(pending[0][0])
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert not pending, f"never asked {pending[0][0]!r}; it wrote {output!r}"
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a POSIX pseudo-terminal")
def test_on_a_terminal_the_password_is_asked_twice_and_not_echoed(tmp_path: Path) -> None:
    code, output = _on_a_terminal(tmp_path, ["users", "add", "dave", "--workspace", "core", "--role", "viewer"],
                                  [(b"password for dave: ", PASSWORD), (b"again: ", PASSWORD)])
    assert code == 0 and "user dave: add done" in output, output
    assert PASSWORD not in output  # the terminal did not echo it
    code, output = _on_a_terminal(tmp_path, ["users", "passwd", "dave"],
                                  [(b"new password for dave: ", "another-long-password"), (b"again: ", "typo")])
    assert code == 2 and "the two passwords differ" in output, output
    from nornflow.gateway.store import GatewayStore

    with GatewayStore(tmp_path / "gateway.db") as store:
        assert store.authenticate("dave", PASSWORD) is not None


def test_token_create_prints_the_id_and_the_secret_on_stdout_for_scripts(data_dir: Path) -> None:
    args = ("token", "create", "--user", "alice", "--workspace", "core", "--role", "viewer", "--ttl", "1h")
    created = nornflow(data_dir, *args)
    token_id, auth = created_token(created)
    assert "shown once" in created.stderr and auth not in created.stderr
    # As documented: a shell can eval it.
    script = 'eval "$1" && printf "%s\\n%s\\n" "$NORNFLOW_TOKEN_ID" "$PREFECT_API_AUTH_STRING"'
    shell = subprocess.run(["sh", "-c", script, "sh", created.stdout], capture_output=True, text=True, timeout=30,
                           check=True)
    assert shell.stdout.splitlines() == [token_id, auth]
    as_json = nornflow(data_dir, *args, "--json")
    assert as_json.returncode == 0, as_json.stderr
    token = json.loads(as_json.stdout)
    assert set(token) == {"id", "user", "workspace", "roles", "expires_at", "kid", "token", "auth_string"}
    assert (token["user"], token["workspace"], token["roles"]) == ("alice", "core", ["viewer"])
    assert token["auth_string"] == f"alice:{token['token']}" and token["id"] != token_id
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    assert token["token"] not in as_json.stderr
    from nornflow.gateway.store import GatewayStore

    with GatewayStore(data_dir / "gateway.db") as store:
        for shown_id, secret in ((token_id, auth.split(":", 1)[1]), (token["id"], token["token"])):
            info = store.verify_token(secret)
            assert info is not None and info.id == shown_id and info.user == "alice"
    helped = nornflow(data_dir, "token", "--help")
    assert "NORNFLOW_TOKEN_ID=<token id>" in helped.stdout and "--json" in helped.stdout
