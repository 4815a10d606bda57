"""HashiCorp Vault (or OpenBao) KV secrets as a Prefect block."""

from __future__ import annotations

import threading
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, PrivateAttr, SecretStr

from nornflow.blocks._lazy import backend_module
from nornflow.secrets.reference import Document


class VaultSecrets(Block):
    """Reads KV v1/v2 secrets from Vault with a token or AppRole; hvac is imported on first read."""

    _block_type_name = "NornFlow Vault"
    _block_type_slug = "nornflow-vault"
    _description = "HashiCorp Vault / OpenBao KV secrets for NornFlow secret references."
    _documentation_url = "https://developer.hashicorp.com/vault/docs/secrets/kv"  # type: ignore[assignment]

    url: str = Field(description="Vault address, e.g. https://vault.example.net:8200.")
    token: SecretStr | None = Field(
        default=None, description="A Vault token; leave empty to log in with AppRole instead."
    )
    role_id: str | None = Field(default=None, description="AppRole role_id (not secret on its own).")
    secret_id: SecretStr | None = Field(default=None, description="AppRole secret_id.")
    approle_mount_point: str = Field(default="approle", description="Mount path of the AppRole auth method.")
    namespace: str | None = Field(default=None, description="Vault Enterprise / OpenBao namespace, if any.")
    mount_point: str = Field(default="secret", description="Mount path of the KV secrets engine.")
    kv_version: Literal[1, 2] = Field(default=2, description="KV engine version at that mount: 1 or 2.")
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate.")
    ca_bundle: str | None = Field(
        default=None,
        description="Path to a CA bundle (PEM) to verify the server with, instead of the system one.",
    )
    timeout: float = Field(default=10.0, description="Seconds to wait for one HTTP request.")

    _client: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def read_secret(self, path: str, version: str | None = None) -> Document:
        """Return the key/value data stored at ``path`` (a KV v2 ``version`` when given)."""
        backend = backend_module("vault", extra="vault", sdk="hvac")
        result: Document = backend.read(self, path, version)
        return result

    def health_check(self) -> str:
        """Whether the service answers and accepts this block's credentials (``nornflow doctor --live``)."""
        text: str = backend_module("vault", extra="vault", sdk="hvac").health(self)
        return text
