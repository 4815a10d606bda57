"""The secrets layer never shows a value: reprs, errors, fields, logs."""

from __future__ import annotations

import logging
import pickle

import pytest

from nornflow.blocks import AwsSecretsManager, AzureKeyVault, DopplerSecrets, VaultSecrets
from nornflow.exceptions import SecretError
from nornflow.secrets import Resolver, parse, redaction
from nornflow.secrets.prefect_secret import PrefectSecretSource
from tests.unit.secrets.fakes import MemoryBackend

VALUE = "s3cr3t-VALUE-9d1f"


def test_block_reprs_and_dumps_hide_secret_fields() -> None:
    blocks = [
        VaultSecrets(url="http://v", token=VALUE, secret_id=VALUE, role_id="r"),
        AzureKeyVault(vault_url="https://k", tenant_id="t", client_id="c", client_secret=VALUE),
        DopplerSecrets(token=VALUE),
        AwsSecretsManager(aws_credentials={"aws_access_key_id": "AKIA", "aws_secret_access_key": VALUE}),
    ]
    for block in blocks:
        assert VALUE not in repr(block)
        assert VALUE not in str(block)
        assert VALUE not in block.model_dump_json()


def test_every_block_field_is_described_and_the_slug_pinned() -> None:
    for cls in (VaultSecrets, AzureKeyVault, DopplerSecrets, AwsSecretsManager):
        assert cls.get_block_type_slug().startswith("nornflow-")
        assert "_block_type_slug" in cls.__dict__
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"


def test_secret_fields_are_secretstr() -> None:
    from pydantic import SecretStr

    for cls, fields in {
        VaultSecrets: ["token", "secret_id"],
        AzureKeyVault: ["client_secret"],
        DopplerSecrets: ["token"],
    }.items():
        for name in fields:
            assert SecretStr in getattr(
                cls.model_fields[name].annotation, "__args__", (cls.model_fields[name].annotation,)
            )


def test_resolver_and_reference_reprs_hold_no_values() -> None:
    mem = MemoryBackend({"p": {"password": VALUE}})
    resolver = Resolver(backends={"mem": mem})
    assert resolver.resolve("secret:mem/main:p#password") == VALUE
    assert VALUE not in repr(resolver)
    assert VALUE not in repr(parse("secret:mem/main:p#password"))
    assert VALUE not in repr(PrefectSecretSource("it-lab", object()))  # type: ignore[arg-type]


def test_errors_and_logs_never_carry_the_value() -> None:
    mem = MemoryBackend({"p": {"password": VALUE, "other": "x"}, "s": VALUE})
    resolver = Resolver(backends={"mem": mem})
    resolver.resolve("secret:mem/main:p#password")
    for bad in ("secret:mem/main:p#missing", "secret:mem/main:p", "secret:mem/main:s#key"):
        with pytest.raises(SecretError) as info:
            resolver.resolve(bad)
        assert VALUE not in str(info.value)
        assert VALUE not in repr(info.value)
        assert info.value.__cause__ is None or VALUE not in str(info.value.__cause__)
        assert VALUE not in pickle.dumps(info.value).decode("latin-1")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "password is %s", (VALUE,), None)
    redaction.RedactingFilter().filter(record)
    assert VALUE not in record.getMessage()
