"""The ``ssh:`` settings of an inventory element, merged per key the way Nornir inherits.

They live under ``data:`` (Nornir's place for what it does not know) on the defaults, a group or
a host; a host's own key wins over its groups' (first group first), which win over the defaults::

    ssh:
      jump_host:                       # a bastion; ``jump_host: null`` on a host goes direct
        host: bastion.example.net
        port: 22
        username: netops
        private_key: secret:vault/kv/ssh/bastion#private_key   # and/or password:, passphrase:
        max_channels: 200              # optional: device sessions through it at once
      host_keys: verify                # the default; ``off`` is the explicit opt-out
      known_hosts: known_hosts         # relative to the inventory folder (the default)
      legacy_algorithms: false         # true: also offer diffie-hellman-group14-sha1, aes128-cbc, ssh-rsa
      private_key: secret:vault/kv/ssh/devices#private_key  # key login to the device
      passphrase: secret:vault/kv/ssh/devices#passphrase

``jump_host`` is taken whole from the nearest element that sets it. The secret references in it are
resolved with the other credentials (:mod:`nornflow.secrets.credentials`) and redacted like passwords.
scrapli's own ``auth_strict_key: false`` (in ``connection_options.scrapli.extras``) also turns host-key
verification off, as it always did; the lab's inventory says so explicitly.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nornir.core.inventory import Host

SSH_KEY = "ssh"
_FOLDERS: OrderedDict[int, tuple[Any, Path]] = OrderedDict()  # id(defaults) -> (defaults, inventory folder)
_FOLDERS_LOCK = threading.Lock()
KNOWN_HOSTS_FILE = "known_hosts"
FIELDS = {"jump_host", "host_keys", "known_hosts", "legacy_algorithms", "private_key", "passphrase"}
JUMP_FIELDS = {"host", "port", "username", "password", "private_key", "passphrase", "max_channels"}
#: Fields that may hold secret references (resolved in place before a session opens).
SECRET_FIELDS = (("private_key",), ("passphrase",), ("jump_host", "username"), ("jump_host", "password"),
                 ("jump_host", "private_key"), ("jump_host", "passphrase"))
HOST_KEY_MODES = ("verify", "off")


@dataclass(frozen=True)
class JumpHost:
    """A bastion; its credentials are values here (resolved), never printed by :meth:`describe`."""

    host: str
    port: int = 22
    username: str = ""
    password: str = field(default="", repr=False)  # values: never in a repr, a log line or an error
    private_key: str = field(default="", repr=False)
    passphrase: str = field(default="", repr=False)
    max_channels: int = 0  # 0: bounded only by the run's session gate

    def describe(self) -> str:
        return f"{self.username}@{self.host}:{self.port}" if self.username else f"{self.host}:{self.port}"

    def pool_key(self) -> tuple[str, int, str, str, int]:
        """Sessions share a bastion connection when host, port, user and credentials are the same.
        The credentials enter as a digest, so the key can sit in a dict without holding the values."""
        digest = hashlib.sha256("\0".join((self.password, self.private_key, self.passphrase)).encode()).hexdigest()
        return self.host, self.port, self.username, digest, self.max_channels


@dataclass(frozen=True)
class SSHSettings:
    """What the SSH path needs to know about one host."""

    jump_host: JumpHost | None = None
    verify_host_keys: bool = True
    known_hosts: Path | None = None
    legacy_algorithms: bool = False
    private_key: str = field(default="", repr=False)
    passphrase: str = field(default="", repr=False)

    @property
    def customised(self) -> bool:
        """True when the session needs NornFlow's own connection set-up (not the transport's defaults)."""
        return bool(self.jump_host or self.verify_host_keys or self.legacy_algorithms or self.private_key)


def problems(value: Any) -> list[str]:
    """What is wrong with one element's ``ssh:`` mapping, as phrases naming the field (empty: fine)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"ssh must be a mapping (jump_host:, host_keys:, ...), found {type(value).__name__}"]
    unknown = sorted(set(value) - FIELDS)
    found = [f"ssh has unknown keys {unknown}; known: {sorted(FIELDS)}"] if unknown else []
    mode = value.get("host_keys")
    if mode is not None and mode not in HOST_KEY_MODES and mode is not False:
        found.append(f"ssh.host_keys {mode!r} must be 'verify' or 'off'")
    if "legacy_algorithms" in value and not isinstance(value["legacy_algorithms"], bool):
        found.append(f"ssh.legacy_algorithms {value['legacy_algorithms']!r} must be true or false")
    for name in ("known_hosts", "private_key", "passphrase"):
        if value.get(name) is not None and not isinstance(value[name], str):
            found.append(f"ssh.{name} must be a string (a path, or a secret reference)")
    jump = value.get("jump_host")
    if jump is not None:
        if not isinstance(jump, dict):
            found.append("ssh.jump_host must be a mapping with host: (and port:, username:, private_key:...)")
            return found
        if set(jump) - JUMP_FIELDS:
            found.append(f"ssh.jump_host has unknown keys {sorted(set(jump) - JUMP_FIELDS)}; "
                         f"known: {sorted(JUMP_FIELDS)}")
        if not isinstance(jump.get("host"), str) or not jump.get("host"):
            found.append("ssh.jump_host needs host: (the bastion's name or address)")
        port = jump.get("port", 22)
        if not (isinstance(port, int) and 0 < port < 65536):
            found.append(f"ssh.jump_host.port {port!r} is not 1-65535")
        channels = jump.get("max_channels", 0)
        if not (isinstance(channels, int) and channels >= 0):
            found.append(f"ssh.jump_host.max_channels {channels!r} must be a whole number >= 0")
    return found


def _own_ssh(element: Any) -> dict[str, Any]:
    data = element.data or {}
    value = data.get(SSH_KEY)
    return value if isinstance(value, dict) else {}


def merged(host: Host) -> dict[str, Any]:
    """The host's ``ssh:`` settings merged per key: host, then its groups in order, then the defaults."""
    out: dict[str, Any] = {}
    for element in (host, *host.extended_groups(), host.defaults):
        for key, value in _own_ssh(element).items():
            out.setdefault(key, value)
    return out


def owner_of(host: Host, key: str) -> Any:
    """The element (host, group or defaults) whose ``ssh.<key>`` the host uses, or None."""
    return next((e for e in (host, *host.extended_groups(), host.defaults) if key in _own_ssh(e)), None)


def remember_inventory_dir(defaults: Any, folder: Path) -> None:
    """Note where the inventory whose defaults are ``defaults`` was read from (relative ssh paths start
    there). Kept beside the inventory, not in it, so the inventory stays what the files say; the last
    256 inventories loaded in the process are remembered."""
    with _FOLDERS_LOCK:
        _FOLDERS[id(defaults)] = (defaults, folder)
        _FOLDERS.move_to_end(id(defaults))
        while len(_FOLDERS) > 256:
            _FOLDERS.popitem(last=False)


def _inventory_dir(host: Host) -> Path | None:
    with _FOLDERS_LOCK:
        found = _FOLDERS.get(id(host.defaults))
    return found[1] if found is not None and found[0] is host.defaults else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def ssh_settings(host: Host, scrapli_extras: dict[str, Any] | None = None) -> SSHSettings:
    """The SSH settings of ``host`` (secret references must have been resolved already)."""
    ssh = merged(host)
    extras = scrapli_extras if scrapli_extras is not None else _scrapli_extras(host)
    jump = ssh.get("jump_host")
    jump_host = None
    if isinstance(jump, dict) and jump.get("host"):
        jump_host = JumpHost(
            host=str(jump["host"]), port=int(jump.get("port") or 22), username=_text(jump.get("username")),
            password=_text(jump.get("password")), private_key=_text(jump.get("private_key")),
            passphrase=_text(jump.get("passphrase")), max_channels=int(jump.get("max_channels") or 0),
        )
    mode = ssh.get("host_keys", "verify")
    verify = mode not in ("off", False) and extras.get("auth_strict_key", True) is not False
    folder = _inventory_dir(host)
    known = ssh.get("known_hosts") or extras.get("ssh_known_hosts_file")
    if known:
        path = Path(str(known)).expanduser()
        if not path.is_absolute():
            owner = owner_of(host, "known_hosts")
            path = (folder / path) if folder is not None and owner is not None else path.absolute()
    elif folder is not None:
        path = folder / KNOWN_HOSTS_FILE
    else:
        path = Path("~/.ssh/known_hosts").expanduser()
    key = _text(ssh.get("private_key"))
    passphrase = _text(ssh.get("passphrase"))
    key_file = extras.get("auth_private_key")
    if not key and key_file:  # scrapli's own setting: a key file path (read here, never copied)
        key = Path(str(key_file)).expanduser().read_text(encoding="utf-8")
        passphrase = passphrase or _text(extras.get("auth_private_key_passphrase"))
    return SSHSettings(jump_host=jump_host, verify_host_keys=verify, known_hosts=path,
                       legacy_algorithms=bool(ssh.get("legacy_algorithms", False)),
                       private_key=key, passphrase=passphrase)


def _scrapli_extras(host: Host) -> dict[str, Any]:
    return dict(host.get_connection_parameters("scrapli").extras or {})
