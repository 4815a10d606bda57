"""How a reference's block-type slug becomes something that can read a secret.

A backend is any object with ``load(name) -> source``, where the source has
``read_secret(path, version) -> str | Mapping``. A Prefect ``Block`` class with a
``read_secret`` method fits as is (``Block.load`` is the loader); one with a
``health_check()`` method too (:class:`HealthCheckable`) takes part in the stack's health checks. Backends are found
through the ``nornflow.secret_backends`` entry-point group (name = slug), so another
package adds one without touching NornFlow; the built-ins are also known directly,
so they work before the package's own entry points are installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from nornflow.exceptions import SecretBackendNotInstalled, SecretNotFound
from nornflow.secrets.reference import Document

GROUP = "nornflow.secret_backends"

BUILTIN_BACKENDS: dict[str, str] = {
    "nornflow-vault": "nornflow.blocks.vault:VaultSecrets",
    "nornflow-aws-secrets-manager": "nornflow.blocks.aws:AwsSecretsManager",
    "nornflow-azure-key-vault": "nornflow.blocks.azure:AzureKeyVault",
    "nornflow-doppler": "nornflow.blocks.doppler:DopplerSecrets",
    "secret": "nornflow.secrets.prefect_secret:PrefectSecretBackend",
}
_EXTRAS = {
    "nornflow-vault": "vault",
    "nornflow-aws-secrets-manager": "aws",
    "nornflow-azure-key-vault": "azure",
}


@runtime_checkable
class SecretSource(Protocol):
    """A loaded block document that can read secrets."""

    def read_secret(self, path: str, version: str | None = None) -> Document: ...


@runtime_checkable
class HealthCheckable(Protocol):
    """A source that can say whether its service answers and accepts its credentials.

    ``health_check()`` returns a short description of what answered and raises a
    :class:`~nornflow.exceptions.SecretError` (never naming a secret's value) when it does
    not; ``nornflow doctor --live`` and the ``stack_health`` flow call it for every block
    document of every backend. The built-in blocks have it; a third-party backend may.
    """

    def health_check(self) -> str: ...


@runtime_checkable
class SecretBackend(Protocol):
    """Loads a named block document of one type."""

    def load(self, name: str) -> SecretSource: ...


class BackendRegistry:
    """Slug -> backend, built per instance from the built-ins and the entry points."""

    def __init__(self, extra: Mapping[str, Any] | None = None) -> None:
        self._specs: dict[str, str | EntryPoint | Any] = dict(BUILTIN_BACKENDS)
        for ep in entry_points(group=GROUP):
            self._specs[ep.name] = ep
        self._specs.update(extra or {})
        self._loaded: dict[str, SecretBackend] = {}

    def __repr__(self) -> str:
        return f"BackendRegistry({sorted(self._specs)})"

    def names(self) -> list[str]:
        return sorted(self._specs)

    def get(self, slug: str) -> SecretBackend:
        """The backend for ``slug``; unknown or uninstalled ones raise with what to do."""
        if slug in self._loaded:
            return self._loaded[slug]
        spec = self._specs.get(slug)
        if spec is None:
            raise SecretNotFound(
                f"no secrets backend for block type {slug!r} (known: {', '.join(self.names())}): "
                f"install the package that provides it (entry-point group {GROUP!r}) or fix the slug"
            )
        try:
            if isinstance(spec, str):
                module, _, attr = spec.partition(":")
                backend = getattr(importlib.import_module(module), attr)
            elif isinstance(spec, EntryPoint):
                backend = spec.load()
            else:
                backend = spec
        except ImportError as exc:
            extra = _EXTRAS.get(slug)
            hint = (
                f"pip install 'nornflow-netops[{extra}]'" if extra else "install the package that provides it"
            )
            raise SecretBackendNotInstalled(
                f"the secrets backend {slug!r} cannot be imported ({exc.name or exc}): {hint}"
            ) from None
        if not callable(getattr(backend, "load", None)):
            raise SecretBackendNotInstalled(f"the secrets backend {slug!r} has no load(name) method")
        self._loaded[slug] = backend
        return backend  # type: ignore[no-any-return]
