"""Private keys from secret values, imported in memory: never written to disk, in any form.

A key arrives as the text of an OpenSSH or PEM private key (a secret reference resolved by
:mod:`nornflow.secrets`), perhaps encrypted with a passphrase (another reference). asyncssh imports
it from the string; paramiko from a ``StringIO``. The resolver registered both values for
redaction, so no log line, record or error shows them; the errors here name the field, never text.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from typing import Any

from nornflow.ssh.errors import PrivateKeyError


def _fail(field: str, exc: BaseException, passphrase: str) -> PrivateKeyError:
    reason = type(exc).__name__
    lowered = str(exc).lower()
    if "passphrase" in lowered or "password" in lowered or "decrypt" in lowered:
        what = "its passphrase is wrong" if passphrase else "it is encrypted and no passphrase was given"
    else:
        what = f"it is not an OpenSSH or PEM private key ({reason})"
    return PrivateKeyError(f"{field} cannot be read: {what}; check the secret the inventory's {field} "
                           f"references (and its passphrase field)")


_CACHE: OrderedDict[str, Any] = OrderedDict()
_LOCK = threading.Lock()


def asyncssh_key(text: str, passphrase: str = "", field: str = "ssh.private_key") -> Any:
    """An ``asyncssh.SSHKey`` from the key's text.

    Decrypting an OpenSSH key costs its bcrypt rounds (0.1-1 s of CPU), so a decrypted key is kept in
    this process's memory (the last 64, keyed by a digest of text and passphrase) for the sessions
    that follow: a hundred devices logging in with one key decrypt it once."""
    import asyncssh

    digest = hashlib.sha256(f"{text}\0{passphrase}".encode()).hexdigest()
    with _LOCK:
        if digest in _CACHE:
            _CACHE.move_to_end(digest)
            return _CACHE[digest]
    try:
        key = asyncssh.import_private_key(text.strip() + "\n", passphrase or None)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as exc:
        raise _fail(field, exc, passphrase) from None
    with _LOCK:
        _CACHE[digest] = key
        while len(_CACHE) > 64:
            _CACHE.popitem(last=False)
    return key


def paramiko_key(text: str, passphrase: str = "", field: str = "ssh.private_key") -> Any:
    """A ``paramiko.PKey`` from the key's text (RSA, ECDSA or Ed25519, OpenSSH or PEM format).

    asyncssh reads the key (its errors tell a wrong passphrase from a wrong format; paramiko's do
    not), and hands paramiko the decrypted key as a string in memory."""
    import paramiko

    key = asyncssh_key(text, passphrase, field)
    algorithm = key.algorithm.decode()
    kind: Any = paramiko.Ed25519Key if algorithm == "ssh-ed25519" else \
        paramiko.ECDSAKey if algorithm.startswith("ecdsa-") else paramiko.RSAKey
    if algorithm.startswith(("sk-", "ssh-dss")):
        raise PrivateKeyError(f"{field} is a {algorithm} key, which the threaded path (paramiko) cannot use; "
                              f"use an Ed25519, ECDSA or RSA key")
    return kind.from_private_key(io.StringIO(key.export_private_key("openssh").decode()))
