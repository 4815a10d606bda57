"""Secrets kept in the repository, encrypted with age, as a Prefect block.

The block holds nothing secret: where the encrypted files are and who they are encrypted
to. The key that decrypts them comes from the environment, a key file outside the
repository or the OS keyring (see :mod:`nornflow.secrets.local`), never from the block or
from the files' own directory.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from nornflow.blocks._lazy import backend_module
from nornflow.secrets.reference import Document


class LocalAgeSecrets(Block):
    """Reads age-encrypted YAML/JSON files from a directory; pyrage is imported on first read."""

    _block_type_name = "NornFlow Local"
    _block_type_slug = "nornflow-local"
    _description = "Secrets kept in the repository, encrypted with age (key from env, key file or keyring)."
    _documentation_url = "https://age-encryption.org"  # type: ignore[assignment]

    directory: str = Field(
        default="secrets",
        description="Directory of the encrypted files (*.age), relative to the working directory.",
    )
    recipients: list[str] = Field(
        default_factory=list,
        description="age public keys (age1...) the files are encrypted to; public, not secret.",
    )

    def read_secret(self, path: str, version: str | None = None) -> Document:
        """Return the value at ``<file>:<dotted.path>`` (a mapping or a string)."""
        result: Document = backend_module("local", extra="local", sdk="pyrage").read(self, path, version)
        return result

    def health_check(self) -> str:
        """Whether the key is found and decrypts every file (``nornflow doctor --live``)."""
        text: str = backend_module("local", extra="local", sdk="pyrage").health(self)
        return text
