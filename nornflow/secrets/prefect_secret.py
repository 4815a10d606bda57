"""Prefect's own ``Secret`` block (slug ``secret``) as a backend: the local, encrypted-at-rest store.

Prefect encrypts block secret fields with a key kept in the same database: that guards
against casual reads of the database, not against someone who holds it.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.system import Secret

from nornflow.exceptions import SecretError
from nornflow.secrets.reference import Document


class PrefectSecretSource:
    """A ``Secret`` document by name; its value is a string or a JSON object.

    The document loaded to check that it exists answers the first read; every later read (once the
    resolver's cache has expired) loads it again, so a rotated value is seen like any other
    backend's: a loaded block holds the value it was loaded with.
    """

    def __init__(self, name: str, secret: Secret[Any] | None = None) -> None:
        self._name = name
        self._loaded = secret

    def __repr__(self) -> str:
        return f"PrefectSecretSource({self._name!r}, <value hidden>)"

    def read_secret(self, path: str, version: str | None = None) -> Document:
        if path or version:
            raise SecretError(
                "a Prefect Secret holds one value: write secret:secret/<block-name>[#<key>] "
                "without a path or version"
            )
        secret, self._loaded = self._loaded, None
        if secret is None:
            secret = _load(self._name)
        value = secret.get()
        if isinstance(value, (str, dict)):
            return value
        return str(value)


def _load(name: str) -> Secret[Any]:
    secret: Secret[Any] = Secret.load(name, _sync=True)  # type: ignore[call-arg,assignment]
    return secret


class PrefectSecretBackend:
    """Backend entry for slug ``secret``: loads the ``Secret`` document by name."""

    @staticmethod
    def load(name: str) -> PrefectSecretSource:
        return PrefectSecretSource(name, _load(name))
