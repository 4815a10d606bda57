"""backup_configs on the lab with device credentials from each secrets backend in turn.

The lab writes a Nornir inventory with its (public) credentials in defaults.yaml; the test
stores them in each backend and rewrites the file so the fields hold references instead.
Skipped until the engine resolves references when it loads an inventory.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

import nornflow.engine.run
import nornflow.inventory.load
from nornflow.blocks import AzureKeyVault, DopplerSecrets, VaultSecrets
from tests.integration.secrets.conftest import Bao, Moto
from tests.servers.azure_keyvault import AzureKeyVaultStandIn
from tests.servers.doppler import DopplerStandIn

WIRED = any("resolve_inventory" in inspect.getsource(m) for m in (nornflow.engine.run, nornflow.inventory.load))
pytestmark = pytest.mark.skipif(not WIRED, reason="the engine does not resolve secret references yet")

BACKENDS = ["vault", "aws", "azure", "doppler", "prefect"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from nornflow.lab import Lab

    with Lab(size=2, directory=tmp_path_factory.mktemp("secrets-lab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def references(lab, bao: Bao, moto_server: Moto, azure_kv: AzureKeyVaultStandIn, doppler: DopplerStandIn):  # type: ignore[no-untyped-def]
    """Store the lab's credentials in every backend; return backend -> (username ref, password ref)."""
    from prefect.blocks.system import Secret

    user, password = lab.username, lab.password
    bao.client().secrets.kv.v2.create_or_update_secret("lab/creds", {"username": user, "password": password})
    VaultSecrets(url=bao.url, token=bao.root_token).save("it-lab-vault", overwrite=True)
    moto_server.client().create_secret(
        Name="lab/creds", SecretString=json.dumps({"username": user, "password": password})
    )
    moto_server.block().save("it-lab-aws", overwrite=True)
    azure_kv.add_client("lab-app", "lab-app-secret")
    azure_kv.put("lab-creds", json.dumps({"username": user, "password": password}))
    AzureKeyVault(
        vault_url=azure_kv.url,
        tenant_id=azure_kv.tenant,
        client_id="lab-app",
        client_secret="lab-app-secret",
        authority_host=azure_kv.url,
        ca_bundle=str(azure_kv.ca_path),
        verify_challenge_resource=False,
    ).save("it-lab-azure", overwrite=True)
    doppler.add_token("dp.st.lab", "lab", "dev")
    doppler.put("lab", "dev", "LAB_USERNAME", user)
    doppler.put("lab", "dev", "LAB_PASSWORD", password)
    DopplerSecrets(token="dp.st.lab", api_url=doppler.url).save("it-lab-doppler", overwrite=True)
    Secret(value={"username": user, "password": password}).save("it-lab-creds", overwrite=True)
    return {
        "vault": (
            "secret:nornflow-vault/it-lab-vault:lab/creds#username",
            "secret:nornflow-vault/it-lab-vault:lab/creds#password",
        ),
        "aws": (
            "secret:nornflow-aws-secrets-manager/it-lab-aws:lab/creds#username",
            "secret:nornflow-aws-secrets-manager/it-lab-aws:lab/creds#password",
        ),
        "azure": (
            "secret:nornflow-azure-key-vault/it-lab-azure:lab-creds#username",
            "secret:nornflow-azure-key-vault/it-lab-azure:lab-creds#password",
        ),
        "doppler": (
            "secret:nornflow-doppler/it-lab-doppler:LAB_USERNAME",
            "secret:nornflow-doppler/it-lab-doppler:LAB_PASSWORD",
        ),
        "prefect": ("secret:secret/it-lab-creds#username", "secret:secret/it-lab-creds#password"),
    }


def inventory_with_references(lab, tmp_path: Path, user_ref: str, password_ref: str) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "inventory"
    folder.mkdir()
    for name in ("hosts", "groups"):
        (folder / f"{name}.yaml").write_text((lab.inventory_dir / f"{name}.yaml").read_text())
    defaults = yaml.safe_load((lab.inventory_dir / "defaults.yaml").read_text())
    defaults["username"], defaults["password"] = user_ref, password_ref
    defaults["connection_options"]["scrapli"]["extras"]["auth_secondary"] = password_ref
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    assert lab.password not in (folder / "defaults.yaml").read_text()
    return folder


@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_with_credentials_from(backend: str, lab, references, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from nornflow.flows import backup_configs

    folder = inventory_with_references(lab, tmp_path, *references[backend])
    backups = tmp_path / "backups"
    state = backup_configs(inventory=str(folder), backup_dir=str(backups), return_state=True)
    assert state.is_completed(), state.message
    assert sorted(p.stem for p in backups.glob("*.cfg")) == sorted(lab.devices)
