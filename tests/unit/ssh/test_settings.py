"""The ssh: settings of an inventory: validation with file and line, per-key inheritance, the opt-outs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nornflow.exceptions import InventoryError
from nornflow.inventory.load import load_nornir
from nornflow.ssh.settings import problems, ssh_settings


def _write(folder: Path, hosts: dict[str, Any], groups: dict[str, Any] | None = None,
           defaults: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (folder / "groups.yaml").write_text(yaml.safe_dump(groups or {}))
    (folder / "defaults.yaml").write_text(yaml.safe_dump(defaults or {}))
    return folder


def test_problems_name_the_field_and_what_is_allowed() -> None:
    assert problems(None) == []
    assert problems({"jump_host": {"host": "b", "port": 2222}, "host_keys": "off", "legacy_algorithms": True}) == []
    assert problems({"jumphost": {}}) == ["ssh has unknown keys ['jumphost']; known: ['host_keys', 'jump_host', "
                                          "'known_hosts', 'legacy_algorithms', 'passphrase', 'private_key']"]
    assert problems({"host_keys": "maybe"}) == ["ssh.host_keys 'maybe' must be 'verify' or 'off'"]
    assert problems({"legacy_algorithms": "yes"}) == ["ssh.legacy_algorithms 'yes' must be true or false"]
    assert problems({"jump_host": {"port": 70000}}) == ["ssh.jump_host needs host: (the bastion's name or address)",
                                                        "ssh.jump_host.port 70000 is not 1-65535"]
    assert problems({"jump_host": "bastion"})[0].startswith("ssh.jump_host must be a mapping")
    assert problems([1]) == ["ssh must be a mapping (jump_host:, host_keys:, ...), found list"]


def test_a_bad_ssh_setting_fails_the_load_naming_file_line_and_host(tmp_path: Path) -> None:
    folder = _write(tmp_path, {"r1": {"hostname": "a"}, "r2": {"data": {"ssh": {"jump_host": {"hots": "b"}}}}})
    with pytest.raises(InventoryError) as caught:
        load_nornir(folder)
    text = str(caught.value)
    assert f"{folder / 'hosts.yaml'}:" in text and "host 'r2'" in text
    assert "ssh.jump_host has unknown keys ['hots']" in text
    _write(tmp_path, {"r1": {}}, defaults={"data": {"ssh": {"host_keys": 1}}})
    with pytest.raises(InventoryError, match=r"defaults\.yaml:1: defaults: ssh.host_keys 1 must be"):
        load_nornir(tmp_path)


def test_settings_merge_per_key_host_then_groups_then_defaults(tmp_path: Path) -> None:
    bastion = {"host": "bastion.example.net", "username": "netops", "private_key": "KEY"}
    folder = _write(
        tmp_path,
        {"r1": {"groups": ["old"]}, "r2": {"data": {"ssh": {"jump_host": None, "host_keys": "off"}}},
         "r3": {"data": {"ssh": {"known_hosts": "elsewhere/kh"}}}},
        {"old": {"data": {"ssh": {"legacy_algorithms": True, "jump_host": {**bastion, "port": 2222}}}}},
        {"data": {"ssh": {"jump_host": bastion}}},
    )
    hosts = load_nornir(folder).inventory.hosts
    r1, r2, r3 = (ssh_settings(hosts[n], {}) for n in ("r1", "r2", "r3"))
    assert r1.legacy_algorithms and r1.jump_host is not None and r1.jump_host.port == 2222
    assert r1.verify_host_keys and r1.known_hosts == folder.absolute() / "known_hosts"
    assert r2.jump_host is None and not r2.verify_host_keys and not r2.legacy_algorithms
    assert r3.jump_host is not None and r3.jump_host.describe() == "netops@bastion.example.net:22"
    assert r3.known_hosts == folder.absolute() / "elsewhere" / "kh"
    assert "KEY" not in r3.jump_host.describe() and "KEY" not in repr(r3.jump_host.pool_key())
    assert "KEY" not in repr(r3) and "KEY" not in repr(r3.jump_host)


def test_scraplis_own_auth_strict_key_false_is_an_opt_out(tmp_path: Path) -> None:
    hosts = load_nornir(_write(tmp_path, {"r1": {}})).inventory.hosts
    assert ssh_settings(hosts["r1"], {"auth_strict_key": False}).verify_host_keys is False
    assert ssh_settings(hosts["r1"], {}).verify_host_keys is True
    assert ssh_settings(hosts["r1"], {}).customised  # verification alone makes NornFlow open the session


def test_the_threaded_path_takes_over_paramiko_hosts_and_system_hosts_that_need_it(tmp_path: Path) -> None:
    from nornflow.ssh.threaded_connect import takes_over

    def opts(transport: str) -> dict[str, Any]:
        return {"scrapli": {"extras": {"transport": transport}}}

    hosts = load_nornir(_write(tmp_path, {
        "p": {"connection_options": opts("paramiko")},
        "s": {"connection_options": opts("system")},
        "sj": {"connection_options": opts("system"), "data": {"ssh": {"jump_host": {"host": "b"}}}},
        "t": {"connection_options": opts("telnet"), "data": {"ssh": {"jump_host": {"host": "b"}}}},
    })).inventory.hosts
    assert takes_over(hosts["p"]) is not None
    assert takes_over(hosts["s"]) is None          # OpenSSH checks its host keys itself
    assert takes_over(hosts["sj"]) is not None     # a bastion: paramiko, one shared connection
    assert takes_over(hosts["t"]) is None
