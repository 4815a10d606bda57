"""Fetch one secret from Doppler's REST API: GET /v3/configs/config/secret."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import httpx

from nornflow.exceptions import (
    SecretAccessDenied,
    SecretBackendUnavailable,
    SecretError,
    SecretNotFound,
)

if TYPE_CHECKING:
    from nornflow.blocks.doppler import DopplerSecrets


def read(block: DopplerSecrets, path: str, version: str | None) -> str:
    if not path:
        raise SecretNotFound("a Doppler reference needs a secret name after the block name")
    if version:
        raise SecretError("Doppler secrets have no versions in the API: drop ?version=")
    params = {"name": path}
    if block.project:
        params["project"] = block.project
    if block.config:
        params["config"] = block.config
    verify: Any = block.ca_bundle or True
    try:
        with httpx.Client(base_url=block.api_url, timeout=block.timeout, verify=verify) as client:
            response = client.get(
                "/v3/configs/config/secret",
                params=params,
                headers={
                    "Authorization": f"Bearer {block.token.get_secret_value()}",
                    "Accept": "application/json",
                },
            )
    except httpx.TransportError as exc:
        raise SecretBackendUnavailable(
            f"Doppler {block.api_url} unreachable or slow ({type(exc).__name__}, timeout {block.timeout}s)"
        ) from None
    status = response.status_code
    if status == 200:
        try:
            value = response.json()["value"]
            computed = value.get("computed")
            return str(computed if computed is not None else value["raw"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SecretError(f"Doppler {block.api_url} answered a body without value.computed") from None
    if status == 404:
        raise SecretNotFound(
            f"Doppler has no secret {path!r} in {block.project or '(token project)'}/"
            f"{block.config or '(token config)'}: check the name, project and config"
        )
    if status in (401, 403):
        raise SecretAccessDenied(
            f"Doppler {block.api_url} refused the block's token (HTTP {status}): "
            "issue a service token with read access to that config"
        )
    if status == 429 or status >= 500:
        raise SecretBackendUnavailable(f"Doppler {block.api_url} answered HTTP {status}")
    raise SecretError(f"Doppler {block.api_url} answered HTTP {status} for {path!r}")


PROBE = "NORNFLOW_HEALTH_PROBE"


def health(block: DopplerSecrets) -> str:
    """Doppler answers and accepts the token: a read of a probe name that need not exist."""
    with contextlib.suppress(SecretNotFound):
        read(block, PROBE, None)
    return f"Doppler {block.api_url} answers; token accepted"
