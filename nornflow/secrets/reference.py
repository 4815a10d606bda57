"""The one reference syntax every secrets backend shares, parsed once here.

A credential field holds a reference instead of a value::

    secret:<block-type-slug>/<block-name>[:<path>][?version=<version>][#<key>]

- ``block-type-slug`` picks the backend (``nornflow-vault``, ``nornflow-aws-secrets-manager``,
  ``nornflow-azure-key-vault``, ``nornflow-doppler``, Prefect's own ``secret``, or any
  slug a package registers in the ``nornflow.secret_backends`` entry-point group);
- ``block-name`` names the saved block document that holds the address and credentials;
- ``path`` is what that backend reads (a Vault path, an AWS secret id or ARN, an Azure
  secret name, a Doppler secret name; Prefect's ``secret`` takes none);
- ``version`` pins a version (Vault KV v2 number, AWS stage or version id, Azure version);
- ``key`` picks one field when the secret holds several (Vault data, a JSON secret).

An ordered fallback list is written in one string, separated by ``||`` (or given as a
YAML list); the first candidate that resolves wins. Every candidate must be a reference:
a literal value is never a fallback.

Backends only fetch a document (a string or a mapping); picking the key happens here,
once, for all of them. Nothing here ever includes a document's content in a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornflow.exceptions import SecretNotFound, SecretReferenceError

PREFIX = "secret:"
FALLBACK_SEPARATOR = "||"
SYNTAX = "secret:<block-type-slug>/<block-name>[:<path>][?version=<version>][#<key>]"

_REFERENCE = re.compile(
    r"^secret:(?P<backend>[a-z0-9][a-z0-9-]*)/(?P<block>[a-z0-9][a-z0-9-]*)"
    r"(?::(?P<path>[^#?]*))?(?:\?version=(?P<version>[^#]+))?(?:#(?P<key>[^#]+))?$"
)

Document = str | Mapping[str, Any]


@dataclass(frozen=True)
class Location:
    """What one backend read fetches: a block document, a path, a version."""

    backend: str
    block: str
    path: str = ""
    version: str | None = None

    def __str__(self) -> str:
        text = f"{PREFIX}{self.backend}/{self.block}"
        if self.path:
            text += f":{self.path}"
        if self.version:
            text += f"?version={self.version}"
        return text


@dataclass(frozen=True)
class SecretRef:
    """One parsed reference: a location plus an optional key. Its text is not secret."""

    location: Location
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.location}#{self.key}" if self.key else str(self.location)


def is_reference(value: object) -> bool:
    """True when ``value`` is a reference string, or a non-empty list of them."""
    if isinstance(value, str):
        return value.strip().startswith(PREFIX)
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, str) and v.strip().startswith(PREFIX) for v in value)
    return False


def parse(text: str) -> SecretRef:
    """Parse one reference; raise :class:`SecretReferenceError` showing the syntax."""
    candidate = text.strip()
    match = _REFERENCE.match(candidate)
    if match is None:
        raise SecretReferenceError(
            f"malformed secret reference {candidate!r}: expected {SYNTAX} "
            "(lower-case slug and block name, e.g. secret:nornflow-vault/prod:network/core#password)"
        )
    location = Location(
        backend=match["backend"],
        block=match["block"],
        path=match["path"] or "",
        version=match["version"],
    )
    return SecretRef(location=location, key=match["key"])


def parse_chain(value: str | Sequence[str]) -> tuple[SecretRef, ...]:
    """Parse a field value: one reference, ``a || b``, or a list; order is preference."""
    parts: list[str] = []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise SecretReferenceError(f"a secret reference must be a string, got {type(item).__name__}")
        parts.extend(p for p in item.split(FALLBACK_SEPARATOR) if p.strip())
    if not parts:
        raise SecretReferenceError(f"empty secret reference: expected {SYNTAX}")
    return tuple(parse(p) for p in parts)


def extract(document: Document, ref: SecretRef) -> str:
    """Pick ``ref.key`` out of a fetched document; messages name keys, never values."""
    if ref.key is None:
        if isinstance(document, str):
            return document
        if len(document) == 1:
            return _as_text(next(iter(document.values())), ref)
        raise SecretNotFound(
            f"{ref} holds {len(document)} fields ({_keys(document)}): add #<key> to pick one"
        )
    mapping: Mapping[str, Any]
    if isinstance(document, str):
        try:
            loaded = json.loads(document)
        except ValueError:
            loaded = None
        if not isinstance(loaded, Mapping):
            raise SecretNotFound(
                f"{ref} names key {ref.key!r} but the secret is a plain string, not a JSON object: "
                "drop the #key or store the secret as JSON"
            ) from None
        mapping = loaded
    else:
        mapping = document
    if ref.key not in mapping:
        raise SecretNotFound(f"{ref}: no key {ref.key!r} in the secret (keys: {_keys(mapping)})")
    return _as_text(mapping[ref.key], ref)


def _as_text(value: Any, ref: SecretRef) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise SecretNotFound(
        f"{ref} points at a {type(value).__name__}, not a string: name a key that holds one"
    )


def _keys(mapping: Mapping[str, Any]) -> str:
    return ", ".join(sorted(str(k) for k in mapping)) or "none"
