"""A lab device that speaks only diffie-hellman-group14-sha1, aes128-cbc, hmac-sha1 and ssh-rsa host keys:
refused by default with a clear error naming them, reached once its host or group opts in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nornflow.lab import Lab
from tests.integration.ssh.conftest import inventory, jump
from tests.integration.ssh.helpers import configs, errors, read_async, read_threaded
from tests.servers.sshd import SSHServer

pytestmark = pytest.mark.integration
PATHS = {"async": read_async, "threaded": read_threaded}


@pytest.fixture(scope="module")
def old_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, str, str]]:
    with Lab(size=2, platforms=("cisco_ios",), directory=tmp_path_factory.mktemp("oldlab")) as lab:
        old, new = sorted(lab.devices)
        lab.set_legacy_ssh(old)
        yield lab, old, new


@pytest.mark.parametrize("path", PATHS)
def test_an_old_device_is_refused_by_default_naming_the_algorithms_and_the_opt_in(
        path: str, old_lab: tuple[Lab, str, str], tmp_path: Path) -> None:
    lab, old, new = old_lab
    got = PATHS[path](inventory(lab, tmp_path))
    failed = errors(got)
    assert set(failed) == {old}
    assert "diffie-hellman-group14-sha1" in failed[old] and "aes128-cbc" in failed[old]
    assert "ssh.legacy_algorithms: true" in failed[old]
    assert f"{old} (127.0.0.1:{lab.devices[old].port})" in failed[old]
    assert new in configs(got)


@pytest.mark.parametrize("path", PATHS)
def test_the_opt_in_per_host_reaches_it_with_its_host_key_verified(path: str, old_lab: tuple[Lab, str, str],
                                                                   tmp_path: Path) -> None:
    lab, old, _ = old_lab
    folder = inventory(lab, tmp_path, extras={"auth_strict_key": True},
                       host_ssh={old: {"legacy_algorithms": True}})
    (folder / "known_hosts").write_text((lab.inventory_dir / "known_hosts").read_text())  # its ssh-rsa key
    got = PATHS[path](folder)
    assert errors(got) == {}
    assert "hostname" in configs(got)[old]


@pytest.mark.parametrize("path", PATHS)
def test_the_opt_in_per_group_through_a_bastion(path: str, old_lab: tuple[Lab, str, str], bastion: SSHServer,
                                                tmp_path: Path) -> None:
    lab = old_lab[0]
    folder = inventory(lab, tmp_path, defaults_ssh={"jump_host": jump(bastion)})
    groups = yaml.safe_load((folder / "groups.yaml").read_text())
    groups["ios"]["data"]["ssh"] = {"legacy_algorithms": True}
    (folder / "groups.yaml").write_text(yaml.safe_dump(groups))
    assert errors(PATHS[path](folder)) == {}
