"""AWS Secrets Manager through moto's server: JSON keys, stages, version ids, rotation mid-run."""

from __future__ import annotations

import json

import pytest

from nornflow.exceptions import SecretNotFound
from nornflow.secrets import Resolver, references_for_host, refresh_host_credentials, resolve_inventory
from tests.integration.secrets.conftest import Moto
from tests.unit.secrets.fakes import inventory

BLOCK = "it-aws"


@pytest.fixture(scope="module")
def aws(moto_server: Moto) -> Moto:
    client = moto_server.client()
    client.create_secret(
        Name="network/core", SecretString=json.dumps({"username": "netops", "password": "aws-pw-1"})
    )
    client.create_secret(Name="network/enable", SecretString="aws-enable-pw")
    moto_server.block().save(BLOCK, overwrite=True)
    return moto_server


def test_json_key_and_plain_string(aws: Moto) -> None:
    r = Resolver()
    assert r.resolve(f"secret:nornflow-aws-secrets-manager/{BLOCK}:network/core#password") == "aws-pw-1"
    assert r.resolve(f"secret:nornflow-aws-secrets-manager/{BLOCK}:network/enable") == "aws-enable-pw"


def test_arn_and_version_id(aws: Moto) -> None:
    client = aws.client()
    described = client.describe_secret(SecretId="network/enable")
    version_id = next(iter(described["VersionIdsToStages"]))
    r = Resolver()
    assert r.resolve(f"secret:nornflow-aws-secrets-manager/{BLOCK}:{described['ARN']}") == "aws-enable-pw"
    assert r.resolve(f"secret:nornflow-aws-secrets-manager/{BLOCK}:network/enable?version={version_id}") == (
        "aws-enable-pw"
    )


def test_unknown_secret_names_the_reference(aws: Moto) -> None:
    ref = f"secret:nornflow-aws-secrets-manager/{BLOCK}:network/nope#password"
    with pytest.raises(SecretNotFound) as info:
        Resolver().resolve(ref)
    assert ref in str(info.value) and "region" in str(info.value)


def test_rotation_in_the_middle_of_a_run(aws: Moto) -> None:
    client = aws.client()
    client.create_secret(Name="network/rotating", SecretString=json.dumps({"password": "before-rotation"}))
    ref = f"secret:nornflow-aws-secrets-manager/{BLOCK}:network/rotating#password"
    inv = inventory({"r1": {"password": ref}, "r2": {"password": ref}})
    resolver = Resolver()
    assert resolve_inventory(inv, resolver) == {}
    assert inv.hosts["r1"].password == "before-rotation"

    client.put_secret_value(
        SecretId="network/rotating", SecretString=json.dumps({"password": "after-rotation"})
    )
    # The device now rejects the old password; the engine re-reads the host's secrets once.
    assert resolver.resolve(ref) == "before-rotation"  # still cached
    assert references_for_host(inv.hosts["r1"]) == [ref]
    assert refresh_host_credentials(inv.hosts["r1"], resolver) is True
    assert inv.hosts["r1"].password == "after-rotation"
    stage = f"secret:nornflow-aws-secrets-manager/{BLOCK}:network/rotating?version=AWSPREVIOUS#password"
    assert resolver.resolve(stage) == "before-rotation"
