"""Fetch from Vault KV with hvac; every hvac/requests failure maps to a NornFlow error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import hvac
import hvac.exceptions as hv
import requests

from nornflow.exceptions import (
    SecretAccessDenied,
    SecretBackendUnavailable,
    SecretError,
    SecretNotFound,
)

if TYPE_CHECKING:
    from nornflow.blocks.vault import VaultSecrets


def read(block: VaultSecrets, path: str, version: str | None) -> dict[str, Any]:
    """Read one KV secret; on a 403 with AppRole, log in again once (the token may have expired)."""
    path = path.strip("/")
    if not path:
        raise SecretNotFound(
            "a Vault reference needs a path, e.g. secret:nornflow-vault/prod:network/core#password"
        )
    try:
        return _read(_client(block), block, path, version)
    except hv.Forbidden:
        if block.token is not None or not block.role_id:
            raise _denied(block, path) from None
    with block._lock:
        block._client = None
    try:
        return _read(_client(block), block, path, version)
    except hv.Forbidden:
        raise _denied(block, path) from None


def health(block: VaultSecrets) -> str:
    """Vault answers, is unsealed and accepts the block's token (or AppRole login); raises otherwise."""
    try:
        client = _client(block)
        if client.sys.is_sealed():
            raise SecretBackendUnavailable(f"Vault {block.url} is sealed: unseal it")
        if not client.is_authenticated():
            raise SecretAccessDenied(f"Vault {block.url} rejects the block's token: renew it")
    except hv.VaultError as exc:
        raise SecretBackendUnavailable(f"Vault {block.url} answered {type(exc).__name__}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SecretBackendUnavailable(
            f"Vault {block.url} unreachable or slow ({type(exc).__name__}, timeout {block.timeout}s)"
        ) from None
    return f"Vault {block.url}: unsealed, credentials accepted"


def _read(client: Any, block: VaultSecrets, path: str, version: str | None) -> dict[str, Any]:
    try:
        if block.kv_version == 2:
            response = client.secrets.kv.v2.read_secret_version(
                path=path, version=version, mount_point=block.mount_point, raise_on_deleted_version=True
            )
            data = response["data"]["data"]
        else:
            if version:
                raise SecretError(f"KV v1 at mount {block.mount_point!r} has no versions: drop ?version=")
            data = client.secrets.kv.v1.read_secret(path=path, mount_point=block.mount_point)["data"]
    except hv.InvalidPath:
        raise SecretNotFound(
            f"no secret at {block.mount_point}/{path} (KV v{block.kv_version}) in Vault {block.url}: "
            "check the path, the mount point and the KV version of the block"
        ) from None
    except hv.Unauthorized:
        raise SecretAccessDenied(
            f"Vault {block.url} rejected the block's credentials (401): "
            "renew the token or the AppRole secret_id"
        ) from None
    except (hv.VaultDown, hv.InternalServerError, hv.BadGateway, hv.RateLimitExceeded) as exc:
        raise SecretBackendUnavailable(f"Vault {block.url} answered {type(exc).__name__}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SecretBackendUnavailable(
            f"Vault {block.url} unreachable or slow ({type(exc).__name__}, timeout {block.timeout}s)"
        ) from None
    if not isinstance(data, dict):
        raise SecretNotFound(f"{block.mount_point}/{path} holds no key/value data")
    return data


def _client(block: VaultSecrets) -> Any:
    with block._lock:
        if block._client is not None:
            return block._client
        verify: bool | str = block.ca_bundle or block.verify_tls
        client = hvac.Client(
            url=block.url,
            token=block.token.get_secret_value() if block.token else None,
            namespace=block.namespace,
            verify=verify,
            timeout=block.timeout,
        )
        if block.token is None:
            if not (block.role_id and block.secret_id):
                raise SecretAccessDenied(
                    "the Vault block has neither a token nor an AppRole role_id + secret_id"
                )
            try:
                client.auth.approle.login(
                    role_id=block.role_id,
                    secret_id=block.secret_id.get_secret_value(),
                    mount_point=block.approle_mount_point,
                )
            except (hv.InvalidRequest, hv.Unauthorized, hv.Forbidden):
                raise SecretAccessDenied(
                    f"Vault {block.url} refused the AppRole login at auth/{block.approle_mount_point}: "
                    "check role_id and secret_id"
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise SecretBackendUnavailable(
                    f"Vault {block.url} unreachable ({type(exc).__name__})"
                ) from None
        block._client = client
        return client


def _denied(block: VaultSecrets, path: str) -> SecretAccessDenied:
    return SecretAccessDenied(
        f"Vault {block.url} denied reading {block.mount_point}/{path} (403): "
        "grant the block's token or AppRole a policy with read on that path"
    )
