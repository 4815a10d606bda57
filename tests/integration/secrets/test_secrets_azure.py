"""Azure Key Vault through the HTTPS stand-in, driven by the real SecretClient and azure-identity."""

from __future__ import annotations

import pytest

from nornflow.blocks import AzureKeyVault
from nornflow.exceptions import SecretAccessDenied, SecretNotFound
from nornflow.secrets import Resolver
from tests.servers.azure_keyvault import AzureKeyVaultStandIn

APP, APP_SECRET = "11111111-2222-3333-4444-555555555555", "sp-client-secret-value"
LIMITED, LIMITED_SECRET = "99999999-2222-3333-4444-555555555555", "limited-client-secret"


def block(kv: AzureKeyVaultStandIn, client_id: str, client_secret: str | None) -> AzureKeyVault:
    return AzureKeyVault(
        vault_url=kv.url,
        tenant_id=kv.tenant,
        client_id=client_id,
        client_secret=client_secret,
        authority_host=kv.url,
        ca_bundle=str(kv.ca_path),
        verify_challenge_resource=False,
        timeout=5,
    )


@pytest.fixture(scope="module")
def kv(azure_kv: AzureKeyVaultStandIn) -> AzureKeyVaultStandIn:
    azure_kv.add_client(APP, APP_SECRET)
    azure_kv.add_client(LIMITED, LIMITED_SECRET, allowed={"core-password"})
    azure_kv.put("core-password", "azure-pw-1")
    azure_kv.put("core-password", "azure-pw-2")
    azure_kv.put("core-creds", '{"username": "netops", "password": "azure-json-pw"}')
    block(azure_kv, APP, APP_SECRET).save("it-azure", overwrite=True)
    block(azure_kv, LIMITED, LIMITED_SECRET).save("it-azure-limited", overwrite=True)
    block(azure_kv, APP, "wrong-secret").save("it-azure-badsecret", overwrite=True)
    return azure_kv


def test_latest_pinned_version_and_json_key(kv: AzureKeyVaultStandIn) -> None:
    first_version = kv.secrets["core-password"][0][0]
    r = Resolver()
    assert r.resolve("secret:nornflow-azure-key-vault/it-azure:core-password") == "azure-pw-2"
    assert r.resolve(f"secret:nornflow-azure-key-vault/it-azure:core-password?version={first_version}") == (
        "azure-pw-1"
    )
    assert r.resolve("secret:nornflow-azure-key-vault/it-azure:core-creds#password") == "azure-json-pw"


def test_forbidden_unknown_and_bad_credentials(kv: AzureKeyVaultStandIn) -> None:
    r = Resolver()
    assert r.resolve("secret:nornflow-azure-key-vault/it-azure-limited:core-password") == "azure-pw-2"
    ref = "secret:nornflow-azure-key-vault/it-azure-limited:core-creds#password"
    with pytest.raises(SecretAccessDenied, match="Key Vault Secrets User") as info:
        r.resolve(ref)
    assert ref in str(info.value)
    with pytest.raises(SecretNotFound, match="has no secret 'missing'"):
        r.resolve("secret:nornflow-azure-key-vault/it-azure:missing")
    with pytest.raises(SecretAccessDenied, match="authentication failed") as info:
        r.resolve("secret:nornflow-azure-key-vault/it-azure-badsecret:core-password")
    assert "wrong-secret" not in str(info.value)


def test_default_azure_credential_from_environment(
    kv: AzureKeyVaultStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", kv.tenant)
    monkeypatch.setenv("AZURE_CLIENT_ID", APP)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", APP_SECRET)
    b = block(kv, APP, None)
    b.client_id = b.tenant_id = None
    assert b.read_secret("core-password") == "azure-pw-2"


def test_flapping_vault_is_retried(kv: AzureKeyVaultStandIn, standin_reset: None) -> None:
    b = block(kv, APP, APP_SECRET)
    r = Resolver(backoff=0.05, backends={"az": type("B", (), {"load": staticmethod(lambda n: b)})()})
    b.read_secret("core-password")  # log in first: the failures below hit the vault, not the authority
    before = kv.requests["core-creds/"]
    kv.fail_next = 2
    assert r.resolve("secret:az/x:core-creds#username") == "netops"
    assert kv.requests["core-creds/"] - before == 3
