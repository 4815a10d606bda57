"""Login keys, their passphrases and enable secrets as secret references in a real Vault (OpenBao): the
bastion and the devices accept the keys, nothing is written to disk, every value is redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from nornflow.blocks import VaultSecrets
from nornflow.lab import Lab
from nornflow.secrets import Resolver
from nornflow.secrets.redaction import redact_text
from tests.integration.secrets.conftest import Bao, bao  # noqa: F401 - the session's OpenBao fixture
from tests.integration.ssh.conftest import inventory, jump
from tests.integration.ssh.helpers import configs, errors, read_async, read_threaded
from tests.servers.sshd import SSHServer, keygen

pytestmark = pytest.mark.integration
PATHS = {"async": read_async, "threaded": read_threaded}
REF = "secret:nornflow-vault/it-ssh-vault:network/ssh"


@pytest.fixture(scope="module")
def device_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("devkey")
    text = keygen(folder / "device", "ed25519", "device key passphrase")
    public = (folder / "device.pub").read_text().strip()
    for path in folder.iterdir():
        path.unlink()  # from here on the key exists only in Vault (and this process's memory)
    return text, public


@pytest.fixture(scope="module")
def vault_keys(bao: Bao, bastion: SSHServer, device_key: tuple[str, str], prefect_server: str) -> Bao:  # noqa: F811
    bao.client().secrets.kv.v2.create_or_update_secret("network/ssh", {
        "bastion_key": bastion.encrypted_key, "bastion_passphrase": bastion.passphrase,
        "device_key": device_key[0], "device_passphrase": "device key passphrase", "enable": "admin",
    })
    VaultSecrets(url=bao.url, token=bao.root_token).save("it-ssh-vault", overwrite=True)
    return bao


def _keyed_inventory(lab: Lab, bastion: SSHServer, folder: Path, passphrase: str = f"{REF}#device_passphrase") -> Path:
    return inventory(lab, folder, names=sorted(lab.devices)[:3], extras={"auth_secondary": f"{REF}#enable"},
                     defaults_ssh={
                         "jump_host": jump(bastion, f"{REF}#bastion_key", passphrase=f"{REF}#bastion_passphrase"),
                         "private_key": f"{REF}#device_key", "passphrase": passphrase})


def _no_key_on_disk(key: str, *folders: Path) -> None:
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(line.encode() in data for line in body), f"key material in {path}"


@pytest.mark.parametrize("path", PATHS)
def test_keys_from_vault_log_in_through_the_bastion_and_touch_no_disk(
        path: str, lab: Lab, bastion: SSHServer, device_key: tuple[str, str], vault_keys: Bao,
        tmp_path: Path) -> None:
    lab.authorize_key(device_key[1])
    folder = _keyed_inventory(lab, bastion, tmp_path)
    # the password the inventory gives is wrong: only the key can log in
    defaults = (folder / "defaults.yaml").read_text().replace("password: admin", "password: not-the-password")
    (folder / "defaults.yaml").write_text(defaults)
    got = PATHS[path](folder, resolver=Resolver())
    assert errors(got) == {}
    assert len(configs(got)) == 3
    _no_key_on_disk(device_key[0], tmp_path, lab.directory)
    _no_key_on_disk(bastion.encrypted_key, tmp_path, lab.directory)
    for secret in (device_key[0], bastion.encrypted_key, "device key passphrase", bastion.passphrase):
        assert redact_text(f"x {secret} y") == "x *** y"
    one_line = device_key[0].splitlines()[1]
    assert one_line not in redact_text(f"a line of it: {one_line}")


@pytest.mark.parametrize("path", PATHS)
def test_a_wrong_passphrase_fails_clearly_without_showing_the_key(path: str, lab: Lab, bastion: SSHServer,
                                                                  device_key: tuple[str, str], vault_keys: Bao,
                                                                  tmp_path: Path) -> None:
    folder = _keyed_inventory(lab, bastion, tmp_path, passphrase=f"{REF}#enable")  # not the key's passphrase
    failed = errors(PATHS[path](folder, resolver=Resolver()))
    assert len(failed) == 3
    for text in failed.values():
        assert "ssh.private_key cannot be read: its passphrase is wrong" in text
        assert device_key[0].splitlines()[1] not in text
