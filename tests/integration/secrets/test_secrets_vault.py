"""Vault (the real OpenBao server): token and AppRole auth, KV v1/v2, a policy that forbids a read."""

from __future__ import annotations

import time

import pytest

from nornflow.blocks import VaultSecrets
from nornflow.exceptions import SecretAccessDenied, SecretBackendUnavailable, SecretNotFound
from nornflow.secrets import Resolver, resolve_inventory
from tests.integration.secrets.conftest import Bao, free_port
from tests.unit.secrets.fakes import inventory


@pytest.fixture(scope="module")
def vault_blocks(bao: Bao) -> Bao:
    root = bao.client()
    root.secrets.kv.v2.create_or_update_secret(
        "network/core", {"username": "netops", "password": "vault-pw-1"}
    )
    root.secrets.kv.v2.create_or_update_secret(
        "network/core", {"username": "netops", "password": "vault-pw-2"}
    )
    root.secrets.kv.v2.create_or_update_secret("other/db", {"password": "db-pw"})
    root.secrets.kv.v1.create_or_update_secret("network/edge", {"password": "kv1-pw"}, mount_point="kv1")
    VaultSecrets(url=bao.url, token=bao.root_token).save("it-vault-root", overwrite=True)
    VaultSecrets(url=bao.url, role_id=bao.role_id, secret_id=bao.secret_id).save(
        "it-vault-approle", overwrite=True
    )
    VaultSecrets(url=bao.url, token=bao.root_token, mount_point="kv1", kv_version=1).save(
        "it-vault-kv1", overwrite=True
    )
    return bao


def test_token_auth_kv2_latest_and_pinned_version(vault_blocks: Bao) -> None:
    r = Resolver()
    assert r.resolve("secret:nornflow-vault/it-vault-root:network/core#password") == "vault-pw-2"
    assert r.resolve("secret:nornflow-vault/it-vault-root:network/core?version=1#password") == "vault-pw-1"


def test_kv1_mount(vault_blocks: Bao) -> None:
    assert Resolver().resolve("secret:nornflow-vault/it-vault-kv1:network/edge#password") == "kv1-pw"


def test_approle_reads_what_its_policy_grants_and_is_denied_the_rest(vault_blocks: Bao) -> None:
    r = Resolver()
    assert r.resolve("secret:nornflow-vault/it-vault-approle:network/core#username") == "netops"
    ref = "secret:nornflow-vault/it-vault-approle:other/db#password"
    with pytest.raises(SecretAccessDenied) as info:
        r.resolve(ref)
    text = str(info.value)
    assert ref in text and "policy" in text and "db-pw" not in text
    assert isinstance(info.value, PermissionError)


def test_unknown_path_key_and_block(vault_blocks: Bao) -> None:
    r = Resolver()
    with pytest.raises(
        SecretNotFound, match=r"it-vault-root:network/nope#password: no secret at secret/network/nope"
    ):
        r.resolve("secret:nornflow-vault/it-vault-root:network/nope#password")
    with pytest.raises(SecretNotFound, match=r"no key 'enable' in the secret \(keys: password, username\)"):
        r.resolve("secret:nornflow-vault/it-vault-root:network/core#enable")
    with pytest.raises(SecretNotFound, match="no block document 'it-vault-missing'"):
        r.resolve("secret:nornflow-vault/it-vault-missing:network/core#password")


def test_bad_approle_secret_id_is_access_denied(vault_blocks: Bao) -> None:
    block = VaultSecrets(url=vault_blocks.url, role_id=vault_blocks.role_id, secret_id="not-the-secret-id")
    r = Resolver(backends={"vault-bad": type("B", (), {"load": staticmethod(lambda name: block)})()})
    with pytest.raises(SecretAccessDenied, match="refused the AppRole login"):
        r.resolve("secret:vault-bad/x:network/core#password")


def test_down_vault_fails_after_bounded_retries() -> None:
    block = VaultSecrets(url=f"http://127.0.0.1:{free_port()}", token="t", timeout=1)
    r = Resolver(
        attempts=3,
        backoff=0.1,
        backends={"vault-down": type("B", (), {"load": staticmethod(lambda n: block)})()},
    )
    started = time.monotonic()
    with pytest.raises(SecretBackendUnavailable) as info:
        r.resolve("secret:vault-down/x:network/core#password")
    assert time.monotonic() - started < 10
    assert "secret:vault-down/x:network/core#password" in str(info.value)
    assert "gave up after 3 attempts" in str(info.value)


def test_thousand_hosts_three_references_three_reads_at_the_server(vault_blocks: Bao) -> None:
    root = vault_blocks.client()
    for site in ("a", "b", "c"):
        root.secrets.kv.v2.create_or_update_secret(f"eff/{site}", {"password": f"pw-{site}"})
    refs = [f"secret:nornflow-vault/it-vault-root:eff/{s}#password" for s in ("a", "b", "c")]
    inv = inventory({f"h{i:04d}": {"password": refs[i % 3]} for i in range(1000)})
    before = vault_blocks.reads("secret/data/eff/")
    resolver = Resolver()
    assert resolve_inventory(inv, resolver) == {}
    reads = vault_blocks.reads("secret/data/eff/") - before
    print(f"\n1000 hosts, 3 references: {reads} reads at the OpenBao server (audit log)")
    assert reads == 3
    assert {inv.hosts[f"h{i:04d}"].password for i in range(3)} == {"pw-a", "pw-b", "pw-c"}
