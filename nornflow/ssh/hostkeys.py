"""Host keys: the known-hosts file kept with the inventory, verification, and what a change means.

The file is OpenSSH's ``known_hosts`` format (``[host]:port key-type base64``), by default
``known_hosts`` beside ``hosts.yaml`` (``ssh.known_hosts`` names another, relative to the inventory;
a backup repository is a good home). ``nornflow hostkeys scan`` collects what the devices present,
for a person to review before the lines go into the file. A host whose key is not in the file fails
(:class:`HostKeyUnknown`); one that presents another key than the recorded one fails alone with
:class:`HostKeyChanged` and a ``nornflow.device.hostkey-changed`` event: nothing is sent to it, not
even the password. Opting out is explicit, per host or group: ``ssh.host_keys: off``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from nornflow.ssh.errors import HostKeyChanged, HostKeyUnknown

log = logging.getLogger(__name__)

CHANGED_EVENT = "nornflow.device.hostkey-changed"
_CACHE: dict[str, tuple[tuple[int, int], Any]] = {}
_LOCK = threading.Lock()


def load(path: Path) -> Any:
    """The parsed file (an ``asyncssh.SSHKnownHosts``), re-read only when it changed; empty when missing."""
    import asyncssh

    try:
        stat = Path(path).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        stamp = (0, -1)
    key = str(path)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    text = path.read_text(encoding="utf-8") if stamp[1] >= 0 else ""
    parsed = asyncssh.import_known_hosts(text)
    with _LOCK:
        _CACHE[key] = (stamp, parsed)
    return parsed


def entry_name(host: str, port: int) -> str:
    """How known_hosts names ``host:port`` (brackets and the port unless it is 22)."""
    return host if port == 22 else f"[{host}]:{port}"


def known_keys(path: Path, host: str, port: int) -> list[Any]:
    """The host keys ``path`` trusts for ``host:port`` (asyncssh ``SSHKey`` objects)."""
    keys: list[Any] = load(path).match(host, "", port)[0]
    return keys


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob (``SHA256:...``)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _blob(key: Any) -> bytes:
    if hasattr(key, "public_data"):  # asyncssh
        return bytes(key.public_data)
    return bytes(key.asbytes())  # paramiko


def unknown_error(name: str, host: str, port: int, path: Path, presented: Any = None) -> HostKeyUnknown:
    shown = f" (it presented {fingerprint(_blob(presented))})" if presented is not None else ""
    return HostKeyUnknown(
        f"host key of {name} ({host}:{port}) is not in {path}{shown}: run `nornflow hostkeys scan "
        f"<inventory> --hosts {name}`, check the key against the device, and add its line to {path}; "
        f"or set ssh.host_keys: off for this host or its group to skip verification")


def changed_error(name: str, host: str, port: int, path: Path, presented: Any, known: list[Any]) -> HostKeyChanged:
    new = fingerprint(_blob(presented)) if presented is not None else "an unknown key"
    old = tuple(fingerprint(_blob(k)) for k in known)
    return HostKeyChanged(
        f"host key of {name} ({host}:{port}) CHANGED: it presented {new}, but {path} records "
        f"{', '.join(old)}; nothing was sent to it. Someone may be intercepting the connection, or the "
        f"device was replaced or re-keyed: check the new key out of band (`nornflow hostkeys scan <inventory> "
        f"--hosts {name}`), then replace its line in {path}",
        host=name, fingerprint=new, known=old)


def verify(name: str, host: str, port: int, path: Path, presented: Any) -> None:
    """Raise unless ``presented`` (asyncssh or paramiko key) is a trusted key of ``host:port`` in ``path``."""
    known = known_keys(path, host, port)
    if not known:
        raise unknown_error(name, host, port, path, presented)
    if _blob(presented) not in {_blob(k) for k in known}:
        raise changed_error(name, host, port, path, presented, known)


def classify(name: str, host: str, port: int, path: Path, presented: Any) -> HostKeyChanged | HostKeyUnknown:
    """After the transport refused the key: was it unknown, or changed?"""
    known = known_keys(path, host, port)
    if known:
        return changed_error(name, host, port, path, presented, known)
    return unknown_error(name, host, port, path, presented)


def emit_changed(error: HostKeyChanged, platform: str | None = None) -> None:
    """The ``nornflow.device.hostkey-changed`` event for one device (a no-op when events cannot be sent)."""
    from nornflow.monitor import enabled
    from nornflow.monitor.resources import device_resource

    if not enabled("events"):
        return
    try:
        from prefect.events import emit_event

        emit_event(event=CHANGED_EVENT, resource=device_resource(error.host),
                   payload={"host": error.host, "presented": error.fingerprint, "recorded": list(error.known),
                            "platform": platform, "error": str(error)[:500]})
    except Exception as exc:  # events are a report, never a reason to fail the run
        log.debug("hostkey-changed event for %s not sent: %s", error.host, exc)


def line(host: str, port: int, key: Any) -> str:
    """The known_hosts line of one presented key (asyncssh key)."""
    public = key.export_public_key("openssh").decode().split()
    return f"{entry_name(host, port)} {public[0]} {public[1]}"
