"""Fetch from Azure Key Vault with the official SecretClient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from nornflow.exceptions import (
    SecretAccessDenied,
    SecretBackendUnavailable,
    SecretError,
    SecretNotFound,
)

if TYPE_CHECKING:
    from nornflow.blocks.azure import AzureKeyVault


def read(block: AzureKeyVault, path: str, version: str | None) -> str:
    if not path or "/" in path:
        raise SecretNotFound(
            "an Azure reference needs a secret name (letters, digits, dashes) after the block name"
        )
    try:
        secret = _client(block).get_secret(path, version)
    except ResourceNotFoundError:
        raise SecretNotFound(
            f"Key Vault {block.vault_url} has no secret {path!r}"
            + (f" at version {version}" if version else "")
            + ": check the name and version"
        ) from None
    except ClientAuthenticationError as exc:
        raise SecretAccessDenied(
            f"Key Vault {block.vault_url}: authentication failed ({type(exc).__name__}): "
            "check tenant_id, client_id and client_secret"
        ) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise SecretBackendUnavailable(
            f"Key Vault {block.vault_url} unreachable or slow "
            f"({type(exc).__name__}, timeout {block.timeout}s)"
        ) from None
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if status == 403:
            raise SecretAccessDenied(
                f"Key Vault {block.vault_url} forbids reading {path!r}: give the principal the "
                "'Key Vault Secrets User' role or a 'get' access policy"
            ) from None
        if status in (429, 500, 502, 503, 504):
            raise SecretBackendUnavailable(f"Key Vault {block.vault_url} answered HTTP {status}") from None
        raise SecretError(f"Key Vault {block.vault_url} refused reading {path!r}: HTTP {status}") from None
    if secret.value is None:
        raise SecretNotFound(f"Key Vault secret {path!r} has no value")
    return str(secret.value)


PROBE = "nornflow-health-probe"


def health(block: AzureKeyVault) -> str:
    """Key Vault answers and authenticates the block: a read of a probe name that need not exist
    (not found, or forbidden for that name, both prove it); a failed login or no answer raises."""
    try:
        read(block, PROBE, None)
    except SecretNotFound:
        pass
    except SecretAccessDenied as exc:
        if "forbids reading" not in str(exc):
            raise
    return f"Key Vault {block.vault_url} answers; credentials accepted"


def _client(block: AzureKeyVault) -> Any:
    with block._lock:
        if block._client is not None:
            return block._client
        transport: dict[str, Any] = {"connection_timeout": block.timeout, "read_timeout": block.timeout}
        if block.ca_bundle:
            transport["connection_verify"] = block.ca_bundle
        identity: dict[str, Any] = dict(transport)
        if block.authority_host:
            identity["authority"] = block.authority_host
            # A non-public authority (sovereign cloud, Azure Stack, test stand-in) cannot be
            # validated against login.microsoftonline.com's instance list.
            identity["disable_instance_discovery"] = True
        credential: Any
        if block.client_secret is not None:
            if not (block.tenant_id and block.client_id):
                raise SecretAccessDenied("the Azure block has a client_secret but no tenant_id or client_id")
            credential = ClientSecretCredential(
                block.tenant_id, block.client_id, block.client_secret.get_secret_value(), **identity
            )
        else:
            credential = DefaultAzureCredential(**identity)
        block._client = SecretClient(
            vault_url=block.vault_url,
            credential=credential,
            verify_challenge_resource=block.verify_challenge_resource,
            retry_total=0,
            **transport,
        )
        return block._client
