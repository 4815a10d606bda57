"""Exact rollback through each platform's own feature, over real SSH against the lab (one device per platform).

Before the first line, deploy_config saves the running config on the device (IOS/EOS: a file on flash,
NX-OS: a checkpoint, Junos: a file in /var/tmp); a failure mid-change is undone by the device's replace
(``configure replace``, ``rollback running-config checkpoint``, ``load override`` + commit), not by typing
the inverse lines, and the device ends byte-exact as it was. Line remediation is the fallback when the
snapshot is gone or wrong, and the record says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nornir.core.task import Result, Task

from nornflow.config import snapshot
from nornflow.config.events import ROLLED_BACK
from nornflow.config.ledger import Ledger
from nornflow.config.remediation import config_hash
from nornflow.config.tasks import read_running, rollback_to
from nornflow.flows import deploy_config
from nornflow.inventory.load import load_nornir
from nornflow.tasks.platforms import device_platform
from tests.integration.config.conftest import TEMPLATES, names

pytestmark = pytest.mark.integration

PLATFORMS = ("cisco_ios", "arista_eos", "juniper_junos", "cisco_nxos")
#: The command of each platform's restore, as the rolled-back record names it.
RESTORED_BY = {"cisco_ios": "configure replace flash:nornflow-", "arista_eos": "configure replace flash:nornflow-",
               "cisco_nxos": "rollback running-config checkpoint nornflow-",
               "juniper_junos": "load override /var/tmp/nornflow-"}
#: The last planned line on each live platform (examples/templates): rejected, after the others went in.
LAST_LINE = {"cisco_ios": "description spine to core 2", "arista_eos": "description spine uplink 2",
             "cisco_nxos": "description spine uplink 2"}
#: What a line-by-line rollback would have typed first (the inverse of the plan's first line).
INVERSE = {"cisco_ios": "no ntp server 10.1.0.1", "arista_eos": "no ntp server 10.2.0.1",
           "cisco_nxos": "no ntp server 10.1.0.1 use-vrf management", "juniper_junos": "delete system ntp"}


@pytest.fixture
def lab(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=4, platforms=PLATFORMS, directory=tmp_path / "lab") as lab:
        yield lab


def _hosts(lab: Any) -> dict[str, str]:
    return {device.platform: name for name, device in lab.devices.items()}


def _snapshots(lab: Any, host: str) -> list[str]:
    state = lab.store.get(host)
    return sorted(n for n in [*state.files, *state.checkpoints] if "nornflow-" in n)


def _read(lab: Any, host: str) -> str:
    """The device's config as the flows read it (show running-config, cleaned), over SSH."""
    nr = load_nornir(lab.inventory_dir).filter(name=host)
    return str(nr.run(task=lambda task: Result(host=task.host, result=read_running(task)))[host][0].result)


def _rollback(lab: Any, host: str, backup: str) -> Any:
    nr = load_nornir(lab.inventory_dir).filter(name=host)
    result = nr.run(task=lambda task: Result(host=task.host, result=rollback_to(task, backup)))[host]
    assert not result.failed, result.exception
    return result[0].result


def test_failure_mid_change_is_replaced_back_byte_exact_on_every_platform(lab, tmp_path, emitted):
    hosts = _hosts(lab)
    before = {h: lab.running_config(h) for h in hosts.values()}
    for platform, line in LAST_LINE.items():  # the live platforms fail on their last line, the rest typed
        lab.reject_line(hosts[platform], line)
    # Junos takes its whole change in one commit, so it fails after it: on a post-check nothing can pass.
    state = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                          auto_approve=True, return_state=True, post_checks={"show version": "no such text"})
    result = state.result(raise_on_failure=False)
    assert state.is_failed()
    assert names(emitted, ROLLED_BACK) == sorted(hosts.values())
    for platform, host in hosts.items():
        record = result[host]
        assert record.data["outcome"] == "rolled-back", (platform, record.error)
        assert RESTORED_BY[platform] in record.error and "line remediation" not in record.error, record.error
        assert "and verified" in record.error
        assert lab.running_config(host) == before[host], platform  # byte-exact, order and all
        assert INVERSE[platform] not in lab.received_lines(host), platform  # the device restored, not us
        assert len(_snapshots(lab, host)) == 1, platform
    assert "ntp server 10.1.0.1" in "".join(lab.received_lines(hosts["cisco_ios"]))  # the change did go in
    assert "rejected config line 'description spine to core 2'" in result[hosts["cisco_ios"]].error
    assert "post-check 'show version' does not show" in result[hosts["juniper_junos"]].error
    ledger = next(Ledger(p) for p in (tmp_path / "bk").glob("**/*.jsonl"))
    marks = [e for e in ledger.entries() if e.get("state") in ("pushing", "rolled-back")]
    assert {e["host"] for e in marks if e["state"] == "pushing" and e.get("snapshot")} == set(hosts.values())
    assert all(e["rollback_method"].startswith(tuple(RESTORED_BY.values())) for e in marks
               if e["state"] == "rolled-back")


def test_an_undo_after_a_verified_change_finds_the_kept_snapshot_by_fingerprint(lab, tmp_path):
    """What a plan's all-or-nothing undo does later: roll a verified device back to its git backup."""
    hosts = _hosts(lab)
    backups = {h: _read(lab, h) for h in hosts.values()}
    before = {h: lab.running_config(h) for h in hosts.values()}
    state = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                          auto_approve=True, return_state=True)
    assert state.is_completed(), state.message
    for platform, host in hosts.items():
        assert lab.running_config(host) != before[host]
        assert [config_hash(backups[host])[:12] in n for n in _snapshots(lab, host)] == [True], platform
        restored = _rollback(lab, host, backups[host])
        assert restored.method.startswith(RESTORED_BY[platform]) and not restored.fallback, (platform, restored)
        assert restored.lines > 0
        assert lab.running_config(host) == before[host], platform
        assert _rollback(lab, host, backups[host]).lines == 0  # already there: nothing sent


def test_no_snapshot_or_a_wrong_one_falls_back_to_lines_and_says_why(lab, tmp_path):
    hosts = _hosts(lab)
    ios, nxos = hosts["cisco_ios"], hosts["cisco_nxos"]
    backups = {h: _read(lab, h) for h in (ios, nxos)}
    before = {h: lab.running_config(h) for h in (ios, nxos)}
    state = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                          auto_approve=True, return_state=True, hosts={"names": [ios, nxos]})
    assert state.is_completed(), state.message
    lab.store.get(nxos).checkpoints.clear()  # someone deleted it
    restored = _rollback(lab, nxos, backups[nxos])
    assert restored.method.startswith("line remediation") and "holds no snapshot" in restored.fallback
    assert lab.running_config(nxos) == before[nxos]

    files = lab.store.get(ios).files  # a snapshot that is not what its name says: the replace is checked
    (name,) = [n for n in files if "nornflow-" in n]
    files[name] = files[name].replace("\nhostname ", "\nsnmp-server contact tampered\nhostname ", 1)
    restored = _rollback(lab, ios, backups[ios])
    assert restored.method.startswith("line remediation"), restored
    assert "left the device unlike its backup" in restored.fallback
    assert lab.running_config(ios) == before[ios]


def test_snapshots_are_pruned_to_the_newest_few_per_device(lab):
    host = _hosts(lab)["arista_eos"]
    profile = device_platform("arista_eos")
    assert profile.snapshots is not None
    nr = load_nornir(lab.inventory_dir).filter(name=host)
    taken = []

    def take_many(task: Task) -> Result:
        conn = task.host.get_connection("scrapli", task.nornir.config)
        for n in range(profile.snapshots.keep + 3):
            taken.append(snapshot.take(conn, host, profile, f"{n:012x}"))
        taken.append(snapshot.take(conn, host, profile, f"{0:012x}"))  # the same config again: one copy of it
        return Result(host=task.host)

    assert not nr.run(task=take_many)[host].failed
    kept = _snapshots(lab, host)
    assert len(kept) == profile.snapshots.keep
    assert f"flash:{taken[-1]}.cfg" in kept and sum(f"{0:012x}" in n for n in kept) == 1
    assert all(Path(n).suffix == ".cfg" for n in kept)
