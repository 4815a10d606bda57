"""Exact rollback the way the devices do it: IOS/EOS `configure replace`, NX-OS checkpoints, EOS
configuration sessions, Junos `load override` and `commit confirmed`; each restores the saved text
byte for byte, including order the line-by-line remediation would lose."""

from __future__ import annotations

import time

import pytest

from nornflow.lab.platforms.cisco import CiscoShell
from nornflow.lab.store import DeviceStore
from tests.unit.lab.conftest import Open, run

CHANGE = {
    "cisco_ios": ("ip access-list extended EDGE", "permit ip any any", "interface Ethernet0/1", "no shutdown",
                  "hostname changed"),
    "arista_eos": ("ip access-list EDGE", "permit ip any any", "interface Ethernet2", "no shutdown",
                   "hostname changed"),
    "cisco_nxos": ("ip access-list EDGE", "permit ip any any", "interface Ethernet1/2", "no shutdown",
                   "hostname changed"),
}


def privileged(open_shell: Open, platform: str) -> CiscoShell:
    shell = open_shell(platform)
    assert isinstance(shell, CiscoShell)
    if not shell.privileged:
        run(shell, "enable", "s3cret" if platform == "cisco_ios" else "")
    return shell


@pytest.mark.parametrize("platform", ["cisco_ios", "arista_eos"])
def test_configure_replace_restores_the_saved_file_exactly(open_shell: Open, store: DeviceStore,
                                                           platform: str) -> None:
    shell = privileged(open_shell, platform)
    before = store.text("fra-leaf-01")
    saved = run(shell, "copy running-config flash:pre-change.cfg", *([""] if platform == "cisco_ios" else []))
    assert "bytes copied" in saved and "pre-change.cfg" in run(shell, "dir flash:")
    run(shell, "configure terminal", *CHANGE[platform], "end")
    assert store.text("fra-leaf-01") != before
    if platform == "cisco_ios":
        asked = run(shell, "configure replace flash:pre-change.cfg")
        assert asked.endswith("Enter Y if you are sure you want to proceed. ? [no]: ")
        assert "Total number of passes: 1\nRollback Done" in run(shell, "y")
    else:
        run(shell, "configure replace flash:pre-change.cfg")
    assert store.text("fra-leaf-01") == before
    assert "No such file or directory" in run(shell, "configure replace flash:missing.cfg force")


def test_ios_timed_replace_rolls_back_unless_confirmed(open_shell: Open, store: DeviceStore) -> None:
    shell = privileged(open_shell, "cisco_ios")
    before = store.text("fra-leaf-01")
    run(shell, "configure terminal", "file prompt quiet", "end", "copy running-config flash:good.cfg")
    with_quiet = store.text("fra-leaf-01")
    run(shell, "configure terminal", "hostname bad", "end", "copy running-config flash:bad.cfg",
        "configure replace flash:good.cfg force", "configure replace flash:bad.cfg force time 5")
    state = store.get("fra-leaf-01")
    assert state.pending is not None and "hostname bad" in store.text("fra-leaf-01")
    state.pending.deadline = time.time() - 1  # the device's timer ran out
    assert store.text("fra-leaf-01") == with_quiet != before
    assert "%ROLLBACK-5-ROLLBACK" in shell.handle("show logging").output
    run(shell, "configure replace flash:bad.cfg force time 5", "configure confirm")
    assert state.pending is None and "hostname bad" in store.text("fra-leaf-01")


def test_nxos_checkpoint_and_rollback(open_shell: Open, store: DeviceStore) -> None:
    shell = privileged(open_shell, "cisco_nxos")
    before = store.text("fra-leaf-01")
    assert run(shell, "checkpoint pre-change").startswith("......Done")
    assert "pre-change" in run(shell, "show checkpoint summary")
    run(shell, "configure terminal", *CHANGE["cisco_nxos"], "end")
    assert "Rollback completed successfully." in run(shell, "rollback running-config checkpoint pre-change")
    assert store.text("fra-leaf-01") == before
    assert "does not exist" in run(shell, "rollback running-config checkpoint nothing")
    run(shell, "no checkpoint pre-change")
    assert "pre-change" not in run(shell, "show checkpoint summary")


def test_eos_configuration_session_commits_or_aborts_as_a_whole(open_shell: Open, store: DeviceStore) -> None:
    shell = privileged(open_shell, "arista_eos")
    before = store.text("fra-leaf-01")
    prompt = run(shell, "configure session change1", "hostname staged")
    assert prompt.endswith("fra-leaf-01(config-s-change)#") and store.text("fra-leaf-01") == before
    assert "+hostname staged" in run(shell, "show session-config diffs")
    run(shell, "abort")
    assert store.text("fra-leaf-01") == before and shell.session is None
    run(shell, "configure session change2", "hostname staged", "end")
    assert store.text("fra-leaf-01") == before  # `end` leaves the session pending
    run(shell, "configure session change2", "commit timer 00:05:00")
    assert "hostname staged" in store.text("fra-leaf-01")
    state = store.get("fra-leaf-01")
    assert state.pending is not None
    state.pending.deadline = time.time() - 1
    assert store.text("fra-leaf-01") == before


def test_junos_load_override_restores_order_and_commit_confirmed_rolls_back(open_shell: Open,
                                                                             store: DeviceStore) -> None:
    shell = open_shell("juniper_junos")
    before = store.text("fra-leaf-01")
    assert "Wrote" in run(shell, "show configuration | save /var/tmp/pre.conf")
    run(shell, "configure", "delete snmp", "set snmp location elsewhere", "set system host-name moved",
        "delete protocols lldp", "set protocols lldp interface all", "commit")
    text = store.text("fra-leaf-01")
    assert text.index("interfaces {") < text.index("snmp {") < text.index("routing-options {")  # back in place
    out = run(shell, "configure", "load override /var/tmp/pre.conf", "commit confirmed 2", "exit")
    assert "load complete" in out and "automatically rolled back in 2 minutes" in out
    assert store.text("fra-leaf-01") == before  # snmp back in its place, not at the end
    state = store.get("fra-leaf-01")
    assert state.pending is not None
    state.pending.deadline = time.time() - 1  # nobody confirmed: Junos goes back to the previous commit
    assert "host-name moved" in store.text("fra-leaf-01")
    run(shell, "configure", "load override /var/tmp/pre.conf", "commit confirmed 2", "commit check", "exit")
    assert state.pending is None and store.text("fra-leaf-01") == before
    assert "error: file does not exist" in run(shell, "configure", "load override /var/tmp/none.conf")


def test_junos_load_terminal_reads_until_ctrl_d(open_shell: Open, store: DeviceStore) -> None:
    shell = open_shell("juniper_junos")
    reply = run(shell, "configure", "load set terminal")
    assert reply.endswith("[Type ^D at a new line to end input]\n")
    assert run(shell, "set system host-name typed") == ""  # no prompt while it reads
    assert "load complete" in run(shell, "\x04", "commit and-quit")
    assert "host-name typed;" in store.text("fra-leaf-01")
