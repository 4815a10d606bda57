"""Fetch from AWS Secrets Manager with boto3 (client built from prefect-aws credentials)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import botocore.exceptions as bex
from botocore.config import Config

from nornflow.exceptions import (
    SecretAccessDenied,
    SecretBackendUnavailable,
    SecretError,
    SecretNotFound,
)

if TYPE_CHECKING:
    from nornflow.blocks.aws import AwsSecretsManager

_VERSION_ID = re.compile(r"^[0-9a-fA-F-]{32,64}$")
_DOWN = {"InternalServiceError", "ServiceUnavailable", "ThrottlingException", "RequestTimeout"}
_DENIED = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
           "ExpiredTokenException"}


@contextmanager
def _answering(block: AwsSecretsManager) -> Iterator[None]:
    """Transport and credential failures, the same for a read and a health check."""
    try:
        yield
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError,
            bex.ConnectionClosedError) as exc:
        raise SecretBackendUnavailable(
            f"AWS Secrets Manager unreachable or slow ({type(exc).__name__}, timeout {block.timeout}s)"
        ) from None
    except bex.NoCredentialsError:
        raise SecretAccessDenied("the AWS block's credentials hold no keys, profile or role") from None


def read(block: AwsSecretsManager, path: str, version: str | None) -> str:
    if not path:
        raise SecretNotFound("an AWS reference needs a secret name or ARN after the block name")
    request: dict[str, Any] = {"SecretId": path}
    if version and _VERSION_ID.match(version):
        request["VersionId"] = version
    else:
        request["VersionStage"] = version or block.version_stage
    try:
        with _answering(block):
            response = _client(block).get_secret_value(**request)
    except bex.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise SecretNotFound(
                f"AWS has no secret {path!r} (version {version or block.version_stage}) "
                "in this account/region: "
                "check the name, the region of the block's AWS credentials and the stage"
            ) from None
        if code in _DENIED:
            raise SecretAccessDenied(
                f"AWS denied GetSecretValue on {path!r} ({code}): grant secretsmanager:GetSecretValue "
                "(and kms:Decrypt) to the block's AWS credentials"
            ) from None
        if code in _DOWN:
            raise SecretBackendUnavailable(f"AWS Secrets Manager answered {code}") from None
        raise SecretError(f"AWS Secrets Manager refused reading {path!r}: {code}") from None
    if "SecretString" in response:
        return str(response["SecretString"])
    try:
        return bytes(response["SecretBinary"]).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        raise SecretError(f"AWS secret {path!r} is binary, not UTF-8 text") from None


PROBE = "nornflow-health-probe"


def health(block: AwsSecretsManager) -> str:
    """AWS answers and accepts the block's credentials: a read of a probe name that need not exist.

    ``ResourceNotFoundException`` or ``AccessDeniedException`` on the probe both prove the
    service answered and the signature was valid (a least-privilege role may read only its
    own secrets); bad or expired keys and an unreachable endpoint raise.
    """
    try:
        with _answering(block):
            _client(block).get_secret_value(SecretId=PROBE)
    except bex.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFoundException", "AccessDeniedException"):
            return f"AWS Secrets Manager answers; credentials accepted ({code} on a probe name)"
        if code in _DENIED:
            raise SecretAccessDenied(f"AWS rejects the block's credentials ({code})") from None
        raise SecretBackendUnavailable(f"AWS Secrets Manager answered {code}") from None
    return "AWS Secrets Manager answers; credentials accepted"


def _client(block: AwsSecretsManager) -> Any:
    with block._lock:
        if block._client is None:
            creds = block.aws_credentials
            params = creds.aws_client_parameters.get_params_override()
            ours = Config(connect_timeout=block.timeout, read_timeout=block.timeout,
                          retries={"max_attempts": 1, "mode": "standard"})
            params["config"] = params["config"].merge(ours) if "config" in params else ours
            block._client = creds.get_boto3_session().client("secretsmanager", **params)
        return block._client
