"""Azure Key Vault secrets as a Prefect block; azure-identity is imported on first read."""

from __future__ import annotations

import threading
from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, PrivateAttr, SecretStr

from nornflow.blocks._lazy import backend_module
from nornflow.secrets.reference import Document


class AzureKeyVault(Block):
    """Reads Key Vault secrets with a service principal, or DefaultAzureCredential when none is set."""

    _block_type_name = "NornFlow Azure Key Vault"
    _block_type_slug = "nornflow-azure-key-vault"
    _description = "Azure Key Vault secrets for NornFlow secret references."
    _documentation_url = "https://learn.microsoft.com/azure/key-vault/secrets/"  # type: ignore[assignment]

    vault_url: str = Field(description="The vault's URL, e.g. https://my-vault.vault.azure.net.")
    tenant_id: str | None = Field(default=None, description="Entra ID tenant of the service principal.")
    client_id: str | None = Field(
        default=None, description="Application (client) id of the service principal."
    )
    client_secret: SecretStr | None = Field(
        default=None,
        description="Client secret of the service principal; leave empty to use DefaultAzureCredential "
        "(environment, managed identity, Azure CLI...).",
    )
    authority_host: str | None = Field(
        default=None,
        description="Entra ID authority host, when not the public cloud (login.microsoftonline.com).",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="Path to a CA bundle (PEM) that signs the vault's and the authority's certificates.",
    )
    verify_challenge_resource: bool = Field(
        default=True,
        description="Check that the vault's auth challenge names a Key Vault resource; turn off only for "
        "private endpoints or test stand-ins.",
    )
    timeout: float = Field(default=10.0, description="Seconds to wait to connect and for one response.")

    _client: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def read_secret(self, path: str, version: str | None = None) -> Document:
        """Return the value of secret ``path`` (a secret name), at ``version`` when given."""
        backend = backend_module("azure", extra="azure", sdk="azure-identity and azure-keyvault-secrets")
        result: Document = backend.read(self, path, version)
        return result

    def health_check(self) -> str:
        """Whether the service answers and accepts this block's credentials (``nornflow doctor --live``)."""
        backend = backend_module("azure", extra="azure", sdk="azure-identity and azure-keyvault-secrets")
        text: str = backend.health(self)
        return text
