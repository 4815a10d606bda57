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
    """A loaded ``Secret`` document; its value is a string or a JSON object."""

    def __init__(self, secret: Secret[Any]) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "PrefectSecretSource(<value hidden>)"

    def read_secret(self, path: str, version: str | None = None) -> Document:
        if path or version:
            raise SecretError(
                "a Prefect Secret holds one value: write secret:secret/<block-name>[#<key>] "
                "without a path or version"
            )
        value = self._secret.get()
        if isinstance(value, (str, dict)):
            return value
        return str(value)


class PrefectSecretBackend:
    """Backend entry for slug ``secret``: loads the ``Secret`` document by name."""

    @staticmethod
    def load(name: str) -> PrefectSecretSource:
        secret: Secret[Any] = Secret.load(name, _sync=True)  # type: ignore[call-arg,assignment]
        return PrefectSecretSource(secret)
