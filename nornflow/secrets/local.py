"""Fetch from age-encrypted files in the repository; the key never lives beside the data.

A reference ``secret:nornflow-local/<block>:<file>[:<dotted.path>][#<key>]`` names a file
under the block's directory (``lab`` or ``lab.age`` is ``<directory>/lab.age``), a dotted
path inside its YAML/JSON document and, as for every backend, an optional key picked by
:func:`nornflow.secrets.reference.extract`. The identity (``AGE-SECRET-KEY-...``) is looked
for, in order, in ``$NORNFLOW_AGE_KEY``, the file ``$NORNFLOW_AGE_KEY_FILE`` (default
``~/.config/nornflow/age.key``) and the OS keyring (service ``nornflow``, user
``age-key``) when the ``keyring`` package is importable. A key file inside the secrets
directory or its repository is refused. No message here ever carries a decrypted byte.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyrage
import yaml

from nornflow.exceptions import SecretAccessDenied, SecretError, SecretNotFound

if TYPE_CHECKING:
    from nornflow.blocks.local import LocalAgeSecrets

KEY_ENV = "NORNFLOW_AGE_KEY"
KEY_FILE_ENV = "NORNFLOW_AGE_KEY_FILE"
DEFAULT_KEY_FILE = "~/.config/nornflow/age.key"
KEYRING_SERVICE, KEYRING_USER = "nornflow", "age-key"
SUFFIX = ".age"
EXAMPLE = "secret:nornflow-local/repo:lab:network.core#password"


def key_file_path() -> Path:
    """Where the identity file is (or goes): ``$NORNFLOW_AGE_KEY_FILE`` or the default."""
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()


def places() -> str:
    """The three places a key is looked for, for messages."""
    return (f"${KEY_ENV}, the key file {key_file_path()} (${KEY_FILE_ENV}) or the OS keyring "
            f"(service {KEYRING_SERVICE!r}, user {KEYRING_USER!r}, when the keyring package is installed)")


def parse_identity(text: str, origin: str) -> Any:
    """The x25519 identity in an age key text (comments allowed); errors name ``origin`` only."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-KEY-")]
    try:
        if len(lines) != 1:
            raise ValueError
        return pyrage.x25519.Identity.from_str(lines[0])
    except (ValueError, pyrage.IdentityError):
        raise SecretAccessDenied(
            f"{origin} does not hold exactly one age identity (AGE-SECRET-KEY-...): "
            "create one with `nornflow secrets keygen`"
        ) from None


def load_identity(directory: Path, key_file: Path | None = None) -> Any:
    """The identity from ``key_file`` if given, else from the environment, the key file or the keyring."""
    if key_file is None:
        env = os.environ.get(KEY_ENV)
        if env:
            return parse_identity(env, f"${KEY_ENV}")
        key_file = key_file_path()
        if not key_file.exists():
            stored = _from_keyring()
            if stored:
                return parse_identity(stored, "the OS keyring entry")
            raise SecretAccessDenied(
                f"no age key found for the secrets in {directory}: looked in {places()}; "
                "set one of them (create a key with `nornflow secrets keygen`)"
            )
    refuse_beside_data(key_file, directory)
    try:
        text = key_file.read_text()
    except OSError as exc:
        raise SecretAccessDenied(
            f"cannot read the age key file {key_file} ({exc.strerror}): fix its permissions"
        ) from None
    return parse_identity(text, f"the key file {key_file}")


def resolve_file(directory: Path, name: str) -> Path:
    """``<directory>/<name>[.age]``, refusing names that leave the directory."""
    name = name.strip()
    if not name:
        raise SecretNotFound(f"a nornflow-local reference needs a file, e.g. {EXAMPLE}")
    path = (directory / (name if name.endswith(SUFFIX) else name + SUFFIX)).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise SecretNotFound(f"the secrets file {name!r} is outside {directory}: name a file inside it")
    return path


def decrypt_document(path: Path, identity: Any) -> dict[str, Any]:
    """Decrypt and parse one file; a wrong key or a damaged file says which file and what to do."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SecretNotFound(f"no secrets file {path}: create it with `nornflow secrets set`") from None
    except OSError as exc:
        raise SecretAccessDenied(
            f"cannot read the secrets file {path} ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        plain = pyrage.decrypt(data, [identity])
    except pyrage.DecryptError:
        raise SecretAccessDenied(
            f"the age key ({identity.to_public()}) cannot decrypt {path}: it is encrypted to another key "
            f"or damaged; use the key it was encrypted to (looked in {places()}) "
            "or ask someone holding it to re-encrypt the file to your public key"
        ) from None
    try:
        document = yaml.safe_load(plain.decode()) if plain.strip() else {}
    except (UnicodeDecodeError, yaml.YAMLError):
        raise SecretError(f"{path} decrypts but is not YAML/JSON: fix it with `nornflow secrets edit`") from None
    if not isinstance(document, dict):
        raise SecretError(f"{path} must hold a YAML/JSON mapping, not a {type(document).__name__}")
    return document


def lookup(document: dict[str, Any], dotted: str, where: str) -> Any:
    """The node at ``a.b.c``; a missing part names the keys that exist, never values."""
    node: Any = document
    for i, part in enumerate(p for p in dotted.split(".") if p):
        if not isinstance(node, dict) or part not in node:
            at = ".".join(dotted.split(".")[:i]) or "the top level"
            keys = ", ".join(sorted(map(str, node))) if isinstance(node, dict) else "none (not a mapping)"
            raise SecretNotFound(f"{where}: no {part!r} under {at} (keys: {keys or 'none'})")
        node = node[part]
    return node


def read(block: LocalAgeSecrets, path: str, version: str | None) -> Any:
    """Fetch the document at ``<file>[:<dotted.path>]``: a mapping, or a scalar as a string."""
    if version:
        raise SecretError("nornflow-local files have no versions (git has them): drop ?version=")
    name, _, dotted = path.partition(":")
    directory = Path(block.directory)
    file = resolve_file(directory, name)
    node = lookup(decrypt_document(file, load_identity(directory)), dotted, f"{file}:{dotted}")
    if isinstance(node, dict):
        return node
    if isinstance(node, (str, int, float)) and not isinstance(node, bool):
        return str(node)
    raise SecretNotFound(f"{file}:{dotted} points at a {type(node).__name__}: name a mapping or a string")


def health(block: LocalAgeSecrets) -> str:
    """The key is found, is one of the block's recipients (when listed) and decrypts every file."""
    directory = Path(block.directory)
    identity = load_identity(directory)
    public = str(identity.to_public())
    if block.recipients and public not in block.recipients:
        raise SecretAccessDenied(f"the age key's public key {public} is not among the block's recipients")
    files = sorted(directory.glob(f"*{SUFFIX}"))
    for file in files:
        decrypt_document(file, identity)
    return f"{directory}: {len(files)} age file(s) decrypt with {public}"


def _from_keyring() -> str | None:
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except Exception:  # no usable keyring backend on this machine: same as no entry
        return None
    return value if isinstance(value, str) else None


def refuse_beside_data(key_file: Path, directory: Path) -> None:
    key, data = key_file.expanduser().resolve(), directory.resolve()
    repo = next((p for p in (data, *data.parents) if (p / ".git").exists()), None)
    for root in (data, repo):
        if root is None:
            continue
        if key.is_relative_to(root):
            raise SecretAccessDenied(
                f"the age key file {key_file} is inside {root}, next to the encrypted data: "
                f"move it out (default {DEFAULT_KEY_FILE}) and point ${KEY_FILE_ENV} at it"
            )
