"""AWS Secrets Manager as a Prefect block that reuses prefect-aws ``AwsCredentials``.

The block nests ``AwsCredentials`` as a typed field (so the UI offers the saved AWS
credentials), which needs prefect-aws at import time: ``nornflow.blocks`` imports this
module only when the ``aws`` extra is installed. boto3 itself is only used on first read.
"""

from __future__ import annotations

import threading
from typing import Any

from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from pydantic import Field, PrivateAttr

from nornflow.blocks._lazy import backend_module
from nornflow.secrets.reference import Document


class AwsSecretsManager(Block):
    """Reads string or JSON secrets from AWS Secrets Manager by name or ARN."""

    _block_type_name = "NornFlow AWS Secrets Manager"
    _block_type_slug = "nornflow-aws-secrets-manager"
    _description = "AWS Secrets Manager secrets for NornFlow secret references."
    _documentation_url = "https://docs.aws.amazon.com/secretsmanager/"  # type: ignore[assignment]

    aws_credentials: AwsCredentials = Field(
        default_factory=AwsCredentials,
        description="prefect-aws credentials (keys, profile or role; region and endpoint in its "
        "client parameters).",
    )
    version_stage: str = Field(
        default="AWSCURRENT",
        description="Stage read when a reference names no version "
        "(AWSCURRENT, AWSPREVIOUS or a custom label).",
    )
    timeout: float = Field(default=10.0, description="Seconds to wait to connect and for one response.")

    _client: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def read_secret(self, path: str, version: str | None = None) -> Document:
        """Return the SecretString at ``path``; ``version`` is a version id (UUID) or a stage label."""
        backend = backend_module("aws", extra="aws", sdk="boto3")
        result: Document = backend.read(self, path, version)
        return result

    def health_check(self) -> str:
        """Whether the service answers and accepts this block's credentials (``nornflow doctor --live``)."""
        text: str = backend_module("aws", extra="aws", sdk="boto3").health(self)
        return text
