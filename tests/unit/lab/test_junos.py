"""Junos on the lab: one tree behind braces and ``set`` lines, and the candidate's life
(shared, private, exclusive), commit and commit check, rollback N, show | compare, leaving."""

from __future__ import annotations

from nornflow.lab.platforms import junos_tree as tree
from nornflow.lab.platforms.junos import JunosShell
from nornflow.lab.store import DeviceStore
from tests.unit.lab.conftest import Open, run

SET = """\
set system host-name r1
set system login user admin class super-user
set interfaces ge-0/0/0 unit 0 family inet address 10.0.0.1/24
set interfaces ge-0/0/1 disable
set snmp location "fra dc"
"""
CURLY = """\
system {
    host-name r1;
    login {
        user admin {
            class super-user;
        }
    }
}
interfaces {
    ge-0/0/0 {
        unit 0 {
            family inet {
                address 10.0.0.1/24;
            }
        }
    }
    ge-0/0/1 {
        disable;
    }
}
snmp {
    location "fra dc";
}
"""


def junos(open_shell: Open, **kw: object) -> JunosShell:
    shell = open_shell("juniper_junos", **kw)
    assert isinstance(shell, JunosShell)
    return shell


def test_one_tree_read_and_written_in_both_forms() -> None:
    root = tree.parse(SET)
    assert tree.render_curly(root) == CURLY
    assert tree.render_set(root) == SET
    assert tree.render_set(tree.parse("## Last commit: x\n" + CURLY)) == SET
    assert tree.labels(tree.tokens("interfaces ge-0/0/0 unit 0 family inet address 10.0.0.1/24")) == [
        "interfaces", "ge-0/0/0", "unit 0", "family inet", "address 10.0.0.1/24"]


def test_set_replaces_single_values_and_delete_prunes() -> None:
    root = tree.parse(SET)
    tree.set_path(root, tree.labels(["system", "host-name", "r2"]))
    tree.set_path(root, tree.labels(tree.tokens("interfaces ge-0/0/0 unit 0 family inet address 10.0.0.2/24")))
    text = tree.render_set(root)
    assert "host-name r2" in text and "host-name r1" not in text
    assert "address 10.0.0.1/24" in text and "address 10.0.0.2/24" in text  # addresses add up
    assert tree.delete_path(root, tree.labels(["interfaces", "ge-0/0/1", "disable"]))
    assert "ge-0/0/1" not in tree.render_set(root)  # its now empty parent went too
    assert tree.delete_path(root, ["system", "host-name"])  # a bare keyword names the statement
    assert not tree.delete_path(root, ["system", "host-name"])


def test_compare_shows_removed_and_added_per_hierarchy() -> None:
    old = tree.parse(SET)
    new = tree.parse(SET.replace("host-name r1", "host-name r2") + "set system ntp server 10.0.0.9\n")
    assert tree.compare(old, new) == (
        "[edit system]\n-   host-name r1;\n+   host-name r2;\n+   ntp {\n+       server 10.0.0.9;\n+   }\n")
    assert tree.compare(old, old) == ""


def test_exec_mode_show_configuration_and_cli_settings(open_shell: Open) -> None:
    shell = junos(open_shell)
    assert shell.prompt() == "admin@fra-leaf-01> "
    assert shell.handle("set cli screen-length 0").output == "Screen length set to 0\n"
    curly = shell.handle("show configuration").output
    assert curly.startswith("## Last commit: ") and "\nsystem {\n    host-name fra-leaf-01;\n" in curly
    flat = shell.handle("show configuration | display set").output
    assert "set system host-name fra-leaf-01\n" in flat and "set interfaces ge-0/0/1 disable\n" in flat
    assert shell.handle("show configuration system ntp").output == "server 10.0.0.1;\n"
    assert "unknown command." in shell.handle("frobnicate").output
    assert "syntax error, expecting <command>." in shell.handle("show frobnicator").output
    assert "set interfaces" not in shell.handle("show configuration | display set | match host-name").output


def test_shared_candidate_commit_and_what_the_next_session_sees(open_shell: Open, store: DeviceStore) -> None:
    shell = junos(open_shell)
    assert shell.handle("configure").output == "Entering configuration mode\n"
    assert shell.prompt() == "\n[edit]\nadmin@fra-leaf-01# "
    run(shell, "set system host-name r9", "delete interfaces ge-0/0/1 disable")
    assert "host-name fra-leaf-01" in store.text("fra-leaf-01")  # not active before commit
    diff = shell.handle("show | compare").output
    assert "-   host-name fra-leaf-01;\n+   host-name r9;" in diff and "-   ge-0/0/1 {" in diff
    assert shell.handle("commit check").output == "configuration check succeeds\n"
    assert "host-name fra-leaf-01" in store.text("fra-leaf-01")
    assert shell.handle("commit").output == "commit complete\n"
    assert shell.prompt() == "\n[edit]\nadmin@r9# "
    assert shell.handle("show | compare").output == ""
    assert "Exiting configuration mode" in shell.handle("exit").output
    other = junos(open_shell)
    assert "host-name r9;" in other.handle("show configuration").output and other.prompt() == "admin@r9> "


def test_uncommitted_shared_changes_stay_and_exit_asks(open_shell: Open, store: DeviceStore) -> None:
    shell = junos(open_shell)
    run(shell, "configure", "set snmp contact noc")
    assert shell.handle("exit").output == "The configuration has been changed but not committed\n"
    assert shell.prompt() == "Exit with uncommitted changes? [yes,no] (yes) "
    run(shell, "no")
    assert shell.prompt().endswith("# ")  # still in configuration mode
    assert "Exiting configuration mode" in shell.handle("exit configuration-mode").output  # no question
    assert shell.prompt() == "admin@fra-leaf-01> "
    other = junos(open_shell)
    entered = other.handle("configure").output
    assert "The configuration has been changed but not committed" in entered
    assert "+   contact noc;" in other.handle("show | compare").output
    assert other.handle("rollback").output == "load complete\n"
    assert other.handle("show | compare").output == "" and "contact" not in store.text("fra-leaf-01")


def test_private_and_exclusive_throw_changes_away_and_exclusive_locks(open_shell: Open) -> None:
    private = junos(open_shell)
    assert "warning: uncommitted changes will be discarded on exit" in private.handle("configure private").output
    run(private, "set snmp contact private")
    private.handle("exit")
    assert private.prompt() == "Discard uncommitted changes? [yes,no] (yes) "
    assert "warning: discarding uncommitted changes" in private.handle("yes").output
    run(private, "configure")
    assert private.handle("show | compare").output == ""

    exclusive, other = junos(open_shell), junos(open_shell)
    run(private, "exit")
    run(exclusive, "configure exclusive", "set snmp contact exclusive")
    assert "configuration database locked by" in other.handle("configure exclusive").output
    run(other, "configure")
    assert "error: configuration database locked by" in other.handle("commit").output
    exclusive.close()  # the session holding the lock drops: lock and changes go
    assert other.handle("show | compare").output == ""
    assert other.handle("commit").output == "commit complete\n"


def test_rollback_n_and_history(open_shell: Open, store: DeviceStore) -> None:
    shell = junos(open_shell)
    run(shell, "configure", "set system host-name one", "commit", "set system host-name two", "commit comment second")
    assert shell.prompt().endswith("@two# ")
    history = shell.handle("run show system commit").output.splitlines()
    assert history[0].startswith("0   ") and history[1] == "    second" and len(history) == 4
    assert "+   host-name two;" in shell.handle("show | compare rollback 1").output
    assert shell.handle("rollback 2").output == "load complete\n"
    assert "+   host-name fra-leaf-01;" in shell.handle("show | compare").output
    run(shell, "commit")
    assert "host-name fra-leaf-01;" in store.text("fra-leaf-01")
    assert "does not exist" in shell.handle("rollback 42").output


def test_commit_check_refuses_an_ebgp_neighbor_without_peer_as(open_shell: Open, store: DeviceStore) -> None:
    shell = junos(open_shell)
    run(shell, "configure", "set protocols bgp group transit neighbor 192.0.2.1")
    check = shell.handle("commit check").output
    assert "peer AS number must be configured" in check and check.endswith("error: configuration check-out failed\n")
    assert "error: configuration check-out failed" in shell.handle("commit").output
    assert "bgp" not in store.text("fra-leaf-01")
    run(shell, "set protocols bgp group transit peer-as 65000")
    assert shell.handle("commit and-quit").output.startswith("commit complete\nExiting configuration mode")
    assert shell.prompt() == "admin@fra-leaf-01> " and "peer-as 65000;" in store.text("fra-leaf-01")


def test_edit_levels_and_syntax_errors(open_shell: Open, store: DeviceStore) -> None:
    shell = junos(open_shell)
    run(shell, "configure", "edit interfaces ge-0/0/2 unit 0")
    assert shell.prompt() == "\n[edit interfaces ge-0/0/2 unit 0]\nadmin@fra-leaf-01# "
    run(shell, "set family inet address 10.9.9.9/24", "up")
    assert shell.prompt().startswith("\n[edit interfaces ge-0/0/2]\n")
    run(shell, "top")
    assert "syntax error." in shell.handle("set frobnicate 1").output
    assert "warning: statement not found" in shell.handle("delete snmp contact").output
    run(shell, "commit")
    assert "set interfaces ge-0/0/2 unit 0 family inet address 10.9.9.9/24" in tree.render_set(
        store.get("fra-leaf-01").config)
    state = store.get("fra-leaf-01")
    state.rejects.add("set snmp contact x")
    assert "syntax error." in shell.handle("set snmp contact x").output
    assert state.received[-1] == "set snmp contact x"
