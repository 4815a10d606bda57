"""Host keys verified against known_hosts kept with the inventory, on both paths; a changed key fails
its host alone (and emits ``nornflow.device.hostkey-changed``); ``nornflow hostkeys scan``."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from nornflow.lab import Lab
from tests.integration.ssh.conftest import inventory, jump
from tests.integration.ssh.helpers import configs, errors, read_async, read_threaded
from tests.servers.sshd import SSHServer

pytestmark = pytest.mark.integration
PATHS = {"async": read_async, "threaded": read_threaded}
VERIFY = {"auth_strict_key": True}  # undo the lab's explicit opt-out


def _other_key_line(lab: Lab, name: str) -> str:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
    return f"[127.0.0.1]:{lab.devices[name].port} {other[0]} {other[1]}"


def _known_hosts(lab: Lab, folder: Path, *, replace: str | None = None, drop: str | None = None,
                 extra: str = "") -> Path:
    lines = []
    for text in (lab.inventory_dir / "known_hosts").read_text().splitlines():
        name = text.split()[-1]
        if name == drop:
            continue
        lines.append(_other_key_line(lab, name) if name == replace else text)
    path = folder / "known_hosts"
    path.write_text("\n".join([*lines, extra]) + "\n")
    return path


@pytest.mark.parametrize("path", PATHS)
def test_keys_in_known_hosts_beside_the_inventory_are_verified(path: str, lab: Lab, tmp_path: Path) -> None:
    folder = inventory(lab, tmp_path, extras=VERIFY)
    _known_hosts(lab, folder)
    got = PATHS[path](folder)
    assert errors(got) == {}
    assert set(configs(got)) == set(lab.devices)


@pytest.mark.parametrize("path", PATHS)
def test_a_changed_key_fails_that_host_alone_and_an_opt_out_skips_the_check(path: str, lab: Lab,
                                                                            tmp_path: Path) -> None:
    names = sorted(lab.devices)
    changed, missing, trusting = names[0], names[1], names[2]
    folder = inventory(lab, tmp_path, extras=VERIFY, host_ssh={trusting: {"host_keys": "off"}})
    known = _known_hosts(lab, folder, replace=changed, drop=missing)
    (folder / "known_hosts").write_text("\n".join(
        line for line in known.read_text().splitlines() if not line.endswith(trusting)) + "\n")
    failed = errors(PATHS[path](folder))
    assert set(failed) == {changed, missing}
    port = lab.devices[changed].port
    assert f"host key of {changed} (127.0.0.1:{port}) CHANGED: it presented SHA256:" in failed[changed]
    assert f"but {folder / 'known_hosts'} records SHA256:" in failed[changed]
    assert "nothing was sent to it" in failed[changed]
    assert f"host key of {missing} (127.0.0.1:{lab.devices[missing].port}) is not in {folder / 'known_hosts'}" \
        in failed[missing]
    assert "nornflow hostkeys scan" in failed[missing] and "ssh.host_keys: off" in failed[missing]


@pytest.mark.parametrize("path", PATHS)
def test_the_bastion_key_is_verified_too(path: str, lab: Lab, bastion: SSHServer, tmp_path: Path) -> None:
    names = sorted(lab.devices)[:2]
    folder = inventory(lab, tmp_path / "first", names=names, extras=VERIFY, defaults_ssh={"jump_host": jump(bastion)})
    _known_hosts(lab, folder, extra=bastion.host_key_line)
    assert errors(PATHS[path](folder)) == {}
    again = inventory(lab, tmp_path / "again", names=names, extras=VERIFY, defaults_ssh={"jump_host": jump(bastion)})
    _known_hosts(lab, again)  # the bastion's line missing
    failed = errors(PATHS[path](again))
    assert set(failed) == set(names)
    assert all(f"jump host {bastion.user}@127.0.0.1:{bastion.port}: host key of jump host 127.0.0.1" in t
               for t in failed.values()), failed


def test_known_hosts_can_live_elsewhere_relative_to_the_inventory(lab: Lab, tmp_path: Path) -> None:
    folder = inventory(lab, tmp_path / "inv", extras=VERIFY, defaults_ssh={"known_hosts": "../repo/known_hosts"})
    (tmp_path / "repo").mkdir()
    _known_hosts(lab, tmp_path / "repo")
    assert errors(read_async(folder)) == {}


def test_scan_lists_new_same_and_changed_keys_for_review(lab: Lab, tmp_path: Path) -> None:
    names = sorted(lab.devices)
    folder = inventory(lab, tmp_path, extras=VERIFY)
    _known_hosts(lab, folder, replace=names[0], drop=names[1])
    out = tmp_path / "review"
    run = subprocess.run([sys.executable, "-m", "nornflow.cli", "hostkeys", "scan", str(folder), "--output", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # a changed key needs attention
    text = out.read_text()
    lines = text.splitlines()
    recorded = (lab.inventory_dir / "known_hosts").read_text().splitlines()
    assert next(line for line in recorded if line.endswith(names[1])) in lines          # new: a line to add
    assert any(line.startswith(f"# CHANGED {names[0]}: ") for line in lines)
    assert next(line for line in recorded if line.endswith(names[0])) in lines          # what it presents now
    assert sum(line.startswith("# same as recorded:") for line in lines) == len(names) - 2
    assert "review it" in run.stdout


def test_a_changed_key_emits_a_hostkey_changed_event(lab: Lab, tmp_path: Path, prefect_server: str) -> None:
    from nornflow.flows import backup_configs
    from tests.integration.monitor.conftest import wait_for_events

    names = sorted(lab.devices)[:2]
    folder = inventory(lab, tmp_path / "inv", names=names, extras=VERIFY)
    _known_hosts(lab, folder, replace=names[0])
    since = datetime.now(UTC)
    backup_configs(inventory=str(folder), backup_dir=str(tmp_path / "b"), retries=0, return_state=True)
    events = wait_for_events(1, names=["nornflow.device.hostkey-changed"], resource=f"nornflow.device.{names[0]}",
                             since=since)
    body = events[0].payload
    assert body["host"] == names[0] and body["presented"].startswith("SHA256:")
    assert body["recorded"] and body["recorded"][0] != body["presented"]
    assert "CHANGED" in body["error"]
