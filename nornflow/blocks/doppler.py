"""Doppler secrets as a Prefect block (REST API through httpx, already a Prefect dependency).

The fetch code lives in :mod:`nornflow.secrets.doppler`, imported by name on the first read
like the other backends, so this module does not import it.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from nornflow.blocks._lazy import backend_module
from nornflow.secrets.reference import Document


class DopplerSecrets(Block):
    """Reads one Doppler secret by name from a project/config with a service token."""

    _block_type_name = "NornFlow Doppler"
    _block_type_slug = "nornflow-doppler"
    _description = "Doppler secrets for NornFlow secret references."
    _documentation_url = "https://docs.doppler.com/reference/secrets-get"  # type: ignore[assignment]

    token: SecretStr = Field(description="A Doppler service token (dp.st...) scoped to one config.")
    project: str | None = Field(default=None, description="Doppler project; implied by a service token.")
    config: str | None = Field(
        default=None, description="Doppler config (e.g. prd); implied by a service token."
    )
    api_url: str = Field(default="https://api.doppler.com", description="Base URL of the Doppler API.")
    ca_bundle: str | None = Field(
        default=None, description="Path to a CA bundle (PEM) for a private API endpoint."
    )
    timeout: float = Field(default=10.0, description="Seconds to wait to connect and for one response.")

    def read_secret(self, path: str, version: str | None = None) -> Document:
        """Return the computed value of the secret named ``path``."""
        backend = backend_module("doppler", extra=None, sdk="httpx")
        result: Document = backend.read(self, path, version)
        return result

    def health_check(self) -> str:
        """Whether the service answers and accepts this block's credentials (``nornflow doctor --live``)."""
        text: str = backend_module("doppler", extra=None, sdk="httpx").health(self)
        return text
