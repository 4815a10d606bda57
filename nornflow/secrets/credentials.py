"""Resolve the secret references in a Nornir inventory's credential fields, in place.

Credential fields: ``username``, ``password`` and, per connection plugin,
``connection_options[<name>].username / .password / .extras[<key>]`` (string extras
such as ``auth_secondary``), on the defaults, every group and every host.

SSH credentials (:mod:`nornflow.ssh.settings`) are fields too: ``data.ssh.private_key`` and
``.passphrase`` (key login to the device) and ``data.ssh.jump_host.username / .password /
.private_key / .passphrase`` (the bastion); a private key is the text of the key, held in memory
only and redacted like a password.

Failures are data: :func:`resolve_inventory` returns ``{host: error text}`` for each host
whose *effective* credentials (its own, else the first group that sets the field, else the
defaults - Nornir's inheritance order) could not be resolved; other hosts are unaffected.
The original references stay in each element's ``data[REFS_KEY]``, so the engine can
re-read a host's secrets after an authentication failure (:func:`refresh_host_credentials`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nornflow.exceptions import SecretError
from nornflow.secrets.reference import is_reference
from nornflow.secrets.resolver import RefValue, Resolver, chain_key
from nornflow.ssh.settings import SECRET_FIELDS as SSH_SECRET_FIELDS
from nornflow.ssh.settings import SSH_KEY

if TYPE_CHECKING:
    from nornir.core.inventory import Host, Inventory

REFS_KEY = "_nornflow_secret_refs"
Field = tuple[str, ...]
_ATTRS = ("username", "password")


def resolve_inventory(inventory: Inventory, resolver: Resolver | None = None) -> dict[str, str]:
    """Replace references with values in place; return ``{host_name: error_text}`` for failures."""
    resolver = resolver or Resolver()
    elements = [inventory.defaults, *inventory.groups.values(), *inventory.hosts.values()]
    pending: list[tuple[Any, Field, RefValue]] = []
    for element in elements:
        for field, value in _fields(element):
            if is_reference(value):
                pending.append((element, field, value))
                _refs(element)[_dotted(field)] = chain_key(value)
    results = resolver.resolve_many(value for _, _, value in pending)
    failed: dict[tuple[int, Field], SecretError] = {}
    for element, field, value in pending:
        outcome = results[chain_key(value)]
        if isinstance(outcome, SecretError):
            failed[(id(element), field)] = outcome
        else:
            _set(element, field, outcome)
            _register_key_lines(field, outcome)
    if not failed:
        return {}
    errors: dict[str, str] = {}
    for name, host in inventory.hosts.items():
        texts = [
            f"{_dotted(field)}{_origin(host, element)}: {failed[(id(element), field)]}"
            for element, field in _effective(host)
            if (id(element), field) in failed
        ]
        if texts:
            errors[name] = "cannot resolve credentials: " + "; ".join(texts)
    return errors


def references_for_host(host: Host) -> list[str]:
    """The references behind the host's effective credentials (no values), in field order."""
    refs: list[str] = []
    for element, field in _effective(host):
        ref = _stored(element).get(_dotted(field))
        if ref is not None and ref not in refs:
            refs.append(ref)
    return refs


def refresh_host_credentials(host: Host, resolver: Resolver) -> bool:
    """Re-read the host's secrets, bypassing the cache, and write them back in place.

    Returns True when a value changed (worth retrying the host once). A field inherited
    from a group or the defaults is rewritten there, so every host sharing it benefits.
    Raises :class:`SecretError` when a reference no longer resolves.
    """
    targets = [
        (element, field, _stored(element)[_dotted(field)])
        for element, field in _effective(host)
        if _dotted(field) in _stored(element)
    ]
    for _, _, ref in targets:
        resolver.invalidate(ref)
    results = resolver.resolve_many(ref for _, _, ref in targets)
    changed = False
    for element, field, ref in targets:
        outcome = results[ref]
        if isinstance(outcome, SecretError):
            raise outcome
        if _get(element, field) != outcome:
            _set(element, field, outcome)
            _register_key_lines(field, outcome)
            changed = True
    return changed


def _register_key_lines(field: Field, value: str) -> None:
    """A private key is masked whole (the resolver registered it) and line by line: an error or a log
    that quotes one line of it, or the key without its final newline, shows no part of it either."""
    if field[-1] == "private_key":
        from nornflow.secrets.redaction import register

        register(*(line.strip() for line in str(value).splitlines() if len(line.strip()) >= 16
                   and not line.startswith("-----")))


# -- walking the inventory ------------------------------------------------------------------


def _own(element: Any, attr: str) -> Any:
    return object.__getattribute__(element, attr)  # bypass Host's inheritance lookup


def _ssh_of(element: Any) -> dict[str, Any]:
    value = (element.data or {}).get(SSH_KEY)
    return value if isinstance(value, dict) else {}


def _ssh_fields(element: Any) -> Iterator[tuple[Field, Any]]:
    ssh = _ssh_of(element)
    for path in SSH_SECRET_FIELDS:
        holder: Any = ssh if len(path) == 1 else ssh.get(path[0])
        if isinstance(holder, dict) and path[-1] in holder:
            yield ("data", SSH_KEY, *path), holder[path[-1]]


def _fields(element: Any) -> Iterator[tuple[Field, Any]]:
    for attr in _ATTRS:
        yield (attr,), _own(element, attr)
    yield from _ssh_fields(element)
    for conn, opts in (element.connection_options or {}).items():
        for attr in _ATTRS:
            yield ("connection_options", conn, attr), getattr(opts, attr)
        for key, value in (opts.extras or {}).items():
            yield ("connection_options", conn, "extras", key), value


def _ssh_holder(element: Any, field: Field) -> dict[str, Any]:
    ssh = _ssh_of(element)
    holder: dict[str, Any] = ssh if len(field) == 3 else ssh[field[2]]
    return holder


def _get(element: Any, field: Field) -> Any:
    if field[0] == "data":
        return _ssh_holder(element, field)[field[-1]]
    if len(field) == 1:
        return _own(element, field[0])
    opts = element.connection_options[field[1]]
    return opts.extras[field[3]] if field[2] == "extras" else getattr(opts, field[2])


def _set(element: Any, field: Field, value: str) -> None:
    if field[0] == "data":
        _ssh_holder(element, field)[field[-1]] = value
        return
    if len(field) == 1:
        object.__setattr__(element, field[0], value)
        return
    opts = element.connection_options[field[1]]
    if field[2] == "extras":
        opts.extras[field[3]] = value
    else:
        setattr(opts, field[2], value)


def _effective(host: Host) -> list[tuple[Any, Field]]:
    """(element, field) pairs that supply the host's credentials, in Nornir's lookup order."""
    chain: list[Any] = [host, *host.extended_groups(), host.defaults]
    pairs: list[tuple[Any, Field]] = []
    for attr in _ATTRS:
        owner = next((e for e in chain if _own(e, attr) is not None), None)
        if owner is not None:
            pairs.append((owner, (attr,)))
    connections = dict.fromkeys(c for e in chain for c in (e.connection_options or {}))
    for conn in connections:
        with_opts = [e for e in chain if conn in (e.connection_options or {})]
        for attr in _ATTRS:
            owner = next(
                (e for e in with_opts if getattr(e.connection_options[conn], attr) is not None), None
            )
            if owner is not None:
                pairs.append((owner, ("connection_options", conn, attr)))
        owner = next((e for e in with_opts if e.connection_options[conn].extras is not None), None)
        if owner is not None:
            extras = owner.connection_options[conn].extras
            pairs.extend((owner, ("connection_options", conn, "extras", k)) for k in extras)
    for key in ("private_key", "passphrase", "jump_host"):  # ssh: per key, as nornflow.ssh.settings merges
        owner = next((e for e in chain if key in _ssh_of(e)), None)
        if owner is not None:
            pairs.extend((owner, field) for field, _ in _ssh_fields(owner) if field[2] == key)
    return pairs


def _refs(element: Any) -> dict[str, str]:
    if element.data is None:
        element.data = {}
    refs: dict[str, str] = element.data.setdefault(REFS_KEY, {})
    return refs


def _stored(element: Any) -> dict[str, str]:
    stored: dict[str, str] = (element.data or {}).get(REFS_KEY, {})
    return stored


def _dotted(field: Field) -> str:
    return ".".join(field)


def _origin(host: Host, element: Any) -> str:
    if element is host:
        return ""
    if element is host.defaults:
        return " (from defaults)"
    return f" (from group {element.name!r})"
