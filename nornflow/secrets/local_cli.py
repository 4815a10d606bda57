"""``nornflow secrets set|get|edit|rotate-key|keygen``: the people's side of the nornflow-local backend.

Values go in from stdin (``-``) so they never land in shell history; ``get`` prints a
value and is for people only (flows resolve references). Every file is written to a
temporary file beside it and renamed over it, so a failure leaves the old file whole;
``rotate-key`` decrypts every file first, writes every new file next, and only then
renames them all, putting back the ones already renamed if a rename fails. Decrypted
text touches the disk only during ``edit``, in a 0600 file that is overwritten and removed.
pyrage is imported by the handlers, so building the ``nornflow`` parser never needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from nornflow.exceptions import SecretError


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``secrets`` and its commands to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "secrets", help="age-encrypted secrets in the repository (the nornflow-local backend)",
        description="Secrets in <dir>/<file>.age, encrypted with age; the key comes from $NORNFLOW_AGE_KEY, "
                    "$NORNFLOW_AGE_KEY_FILE (default ~/.config/nornflow/age.key) or the OS keyring.",
    )
    commands = parser.add_subparsers(dest="secrets_command", required=True,
                                     metavar="{set,get,edit,rotate-key,keygen}")
    cmd = commands.add_parser("set", help="set FILE's PATH to VALUE ('-' reads it from stdin)")
    cmd.add_argument("file", help="file under --dir (lab or lab.age)")
    cmd.add_argument("path", help="dotted path inside the file, e.g. network.core.password")
    cmd.add_argument("value", help="the value, or - to read it from stdin (keeps it out of shell history)")
    cmd.set_defaults(func=cmd_set)
    cmd = commands.add_parser("get", help="print the value at FILE's PATH (for people; flows use references)")
    cmd.add_argument("file")
    cmd.add_argument("path", nargs="?", default="")
    cmd.set_defaults(func=cmd_get)
    cmd = commands.add_parser("edit", help="decrypt FILE to a private temp file, open $EDITOR, re-encrypt")
    cmd.add_argument("file")
    cmd.set_defaults(func=cmd_edit)
    cmd = commands.add_parser("rotate-key", help="re-encrypt every file to a new key, all or nothing")
    cmd.add_argument("--new-key-file", type=Path, required=True, help="identity file of the new key")
    cmd.set_defaults(func=cmd_rotate)
    cmd = commands.add_parser("keygen", help="create an identity file (0600), say where, and print its public key")
    cmd.add_argument("--key-file", type=Path, help="where to write it (default: $NORNFLOW_AGE_KEY_FILE or "
                                                   "~/.config/nornflow/age.key)")
    cmd.set_defaults(func=cmd_keygen)
    for name in ("set", "get", "edit", "rotate-key", "keygen"):
        sub = commands.choices[name]
        sub.add_argument("--dir", type=Path, default=Path("secrets"), help="directory of the encrypted files")
        if name in ("set", "edit"):
            sub.add_argument("--recipient", action="append", default=[],
                             help="also encrypt to this age public key (repeatable)")
    return parser


def _age() -> ModuleType:
    from nornflow.blocks._lazy import backend_module  # here: the blocks package imports Prefect

    return backend_module("local", extra="local", sdk="pyrage")


def _open(args: argparse.Namespace) -> tuple[ModuleType, Any, Path]:
    age = _age()
    return age, age.load_identity(args.dir), age.resolve_file(args.dir, args.file)


def _encrypt(age: ModuleType, document: dict[str, Any], identity: Any, extra: list[str]) -> bytes:
    try:
        recipients = [identity.to_public(), *(age.pyrage.x25519.Recipient.from_str(r) for r in extra)]
    except age.pyrage.RecipientError:
        raise SecretError("a --recipient is not an age public key (age1...)") from None
    data: bytes = age.pyrage.encrypt(yaml.safe_dump(document, sort_keys=False).encode(), recipients)
    return data


def cmd_set(args: argparse.Namespace) -> int:
    age, identity, file = _open(args)
    value = sys.stdin.read().removesuffix("\n") if args.value == "-" else args.value
    document = age.decrypt_document(file, identity) if file.exists() else {}
    parts = [p for p in args.path.split(".") if p]
    if not parts:
        raise SecretError("set needs a dotted PATH, e.g. network.core.password")
    node = document
    for i, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SecretError(f"{file}: {'.'.join(parts[:i + 1])} holds a value, not a mapping: pick another path")
    node[parts[-1]] = value
    file.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(file, _encrypt(age, document, identity, args.recipient))
    print(f"set {args.path} in {file}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    age, identity, file = _open(args)
    node = age.lookup(age.decrypt_document(file, identity), args.path, f"{file}:{args.path}")
    print(yaml.safe_dump(node, sort_keys=False).rstrip() if isinstance(node, (dict, list)) else node)
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    age, identity, file = _open(args)
    document = age.decrypt_document(file, identity) if file.exists() else {}
    shm = Path("/dev/shm")  # noqa: S108 (memory-backed, so decrypted text never reaches a disk)
    fd, name = tempfile.mkstemp(suffix=".yaml", prefix="nornflow-secret-",
                                dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None)
    temp = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
            handle.write(yaml.safe_dump(document, sort_keys=False) if document else "")
        editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        if subprocess.run([*editor, str(temp)], check=False).returncode != 0:
            raise SecretError(f"the editor exited with an error: {file} is unchanged")
        try:
            edited = yaml.safe_load(temp.read_text()) or {}
        except yaml.YAMLError:
            raise SecretError(f"the edited text is not YAML: {file} is unchanged, edit again") from None
        if not isinstance(edited, dict):
            raise SecretError(f"the edited text must be a YAML mapping: {file} is unchanged")
        file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(file, _encrypt(age, edited, identity, args.recipient))
    finally:
        _shred(temp)
    print(f"saved {file}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    age = _age()
    old = age.load_identity(args.dir)
    new = age.load_identity(args.dir, key_file=args.new_key_file)
    files = sorted(args.dir.glob(f"*{age.SUFFIX}"))
    documents = [age.decrypt_document(f, old) for f in files]  # all readable, or nothing changes
    temps: list[Path] = []
    try:
        for file, document in zip(files, documents, strict=True):
            temps.append(_write_temp(file, _encrypt(age, document, new, [])))
        _replace_all(list(zip(temps, files, strict=True)))
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    print(f"re-encrypted {len(files)} file(s) in {args.dir} to {new.to_public()}: "
          f"point ${age.KEY_FILE_ENV} at {args.new_key_file} (or move it to the key's place)")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    age = _age()
    key_file: Path = (args.key_file or age.key_file_path()).expanduser()
    age.refuse_beside_data(key_file, args.dir)
    identity = age.pyrage.x25519.Identity.generate()
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretError(f"{key_file} exists: keep it, or remove it first if you mean to replace it") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# created: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                     f"# public key: {identity.to_public()}\n{identity}\n")
    # stdout: the public key alone (`RECIPIENT=$(nornflow secrets keygen)`); stderr: what a person needs.
    print(f"private key written to {key_file} (0600): back it up and keep it out of git; without it the "
          f"files it encrypts cannot be read.\n"
          f"public key (the nornflow-local block's recipients; public, safe to share):", file=sys.stderr)
    print(identity.to_public())
    if args.key_file and args.key_file.expanduser() != age.key_file_path().expanduser():
        print(f"this is not where nornflow looks by default: export {age.KEY_FILE_ENV}={key_file}",
              file=sys.stderr)
    return 0


def _write_temp(file: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(name, 0o644)  # ciphertext, as readable as the rest of the repository  # noqa: PTH101
    return Path(name)


def _write_atomic(file: Path, data: bytes) -> None:
    temp = _write_temp(file, data)
    try:
        temp.replace(file)
    finally:
        temp.unlink(missing_ok=True)


def _replace_all(pairs: list[tuple[Path, Path]]) -> None:
    """Rename every temp over its file; if one rename fails, put back those already renamed."""
    backups: list[tuple[Path, Path]] = []
    try:
        for temp, file in pairs:
            backup = file.with_name(f".{file.name}.bak")
            backup.unlink(missing_ok=True)
            backup.hardlink_to(file)
            backups.append((backup, file))
            temp.replace(file)
    except OSError:
        for backup, file in backups:
            backup.replace(file)
        raise SecretError("rotating the key failed while renaming: every file is as it was") from None
    finally:
        for backup, _ in backups:
            backup.unlink(missing_ok=True)


def _shred(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
