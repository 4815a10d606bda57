"""The flows on all four lab platforms at once (IOS, EOS, Junos, NX-OS), one device each, over real SSH.

backup_configs, show_commands (parsed ``show version``), deploy_config (applied, verified, a
second run a no-op), check_compliance (compliant after the deploy, drifted after a hand edit),
and a Junos push whose commit fails, which must leave the device's active config unchanged.
"""

from __future__ import annotations

import shutil

import pytest

from nornflow.config.events import APPLIED, ROLLED_BACK
from nornflow.flows import backup_configs, check_compliance, deploy_config, show_commands
from tests.integration.config.conftest import TEMPLATES, names

pytestmark = pytest.mark.integration

PLATFORMS = ("cisco_ios", "arista_eos", "juniper_junos", "cisco_nxos")
#: A field of the parsed ``show version`` per lab platform (the ntc-template's column).
VERSION_FIELD = {"cisco_ios": "version", "arista_eos": "image", "juniper_junos": "junos_version",
                 "cisco_nxos": "os"}
#: The site NTP server the example templates add (examples/templates/common/site.j2).
SITE_NTP = {"fra": "10.1.0.1", "ams": "10.2.0.1", "nyc": "10.3.0.1"}


@pytest.fixture
def lab(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=4, platforms=PLATFORMS, directory=tmp_path / "lab") as lab:
        yield lab


def _by_platform(lab) -> dict[str, str]:
    return {device.platform: name for name, device in lab.devices.items()}


def _deploy(lab, tmp_path, **options):
    return deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, backup_dir=str(tmp_path / "bk"),
                         auto_approve=True, return_state=True, **options)


def _check(lab):
    return check_compliance(inventory=str(lab.inventory_dir), templates=TEMPLATES, return_state=True)


def test_backup_and_parsed_show_version_on_every_platform(lab, tmp_path):
    hosts = _by_platform(lab)
    state = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "bk"), return_state=True)
    assert state.is_completed(), state.message
    saved = {p: (tmp_path / "bk" / f"{h}.cfg").read_text() for p, h in hosts.items()}
    junos = saved.pop("juniper_junos")
    assert junos.startswith("set ") and all(line.startswith("set ") for line in junos.splitlines())
    assert f"set system host-name {hosts['juniper_junos']}" in junos  # the form deploy_config diffs
    assert all(f"hostname {hosts[p]}" in text for p, text in saved.items())
    assert "!Time:" not in saved["cisco_nxos"]

    state = show_commands(inventory=str(lab.inventory_dir), commands=["show version"], parse=True, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    for platform, host in hosts.items():
        entry = result[host].data["show version"]
        assert entry["output"].strip()
        assert entry["parsed"] and entry["parsed"][0][VERSION_FIELD[platform]], (platform, entry)


def test_deploy_verify_noop_and_compliance_on_every_platform(lab, tmp_path, emitted):
    hosts = _by_platform(lab)
    assert _check(lab).message.startswith("0 compliant, 4 drifted")
    state = _deploy(lab, tmp_path)
    assert state.is_completed(), state.message
    assert {r.host: r.data["outcome"] for r in state.result().records} == dict.fromkeys(hosts.values(), "applied")
    assert names(emitted, APPLIED) == sorted(hosts.values())
    running = {p: lab.running_config(h) for p, h in hosts.items()}
    assert "ntp server" in running["cisco_ios"] and "snmp-server location" in running["cisco_nxos"]
    assert "snmp-server location" in running["arista_eos"]
    assert "location" in running["juniper_junos"] and "uplink 1" in running["juniper_junos"]

    again = _deploy(lab, tmp_path)
    assert again.is_completed() and "nothing to change" in again.message, again.message
    assert {r.data["outcome"] for r in again.result().records} == {"compliant"}
    assert _check(lab).message.startswith("4 compliant, 0 drifted")

    for platform, host in hosts.items():  # a hand edit on every device: another NTP server
        text = lab.running_config(host)
        assert "10.0.0.1" in text, platform
        lab.set_running_config(host, text.replace("10.0.0.1", "192.0.2.9"))
    drifted = _check(lab)
    assert drifted.message.startswith("0 compliant, 4 drifted"), drifted.message


def test_junos_rejected_line_commits_nothing_and_the_others_apply(lab, tmp_path, emitted):
    hosts = _by_platform(lab)
    junos = hosts["juniper_junos"]
    before = lab.running_config(junos)
    rejected = f"set system ntp server {SITE_NTP[lab.devices[junos].site]}"
    lab.reject_line(junos, rejected)
    state = _deploy(lab, tmp_path)
    result = state.result(raise_on_failure=False)
    record = result[junos]
    assert record.data["outcome"] == "rolled-back", record.error
    assert f"rejected config line {rejected!r}: ^ / syntax error." in record.error  # the caret and the reason
    assert "nothing was committed" in record.error and "rolled back to the pre-change config" in record.error
    assert lab.running_config(junos) == before
    sent = lab.received_lines(junos)
    assert "commit" not in sent and sent[sent.index(rejected) + 1] == "rollback 0"
    assert names(emitted, ROLLED_BACK) == [junos]
    assert {result[h].data["outcome"] for p, h in hosts.items() if p != "juniper_junos"} == {"applied"}


def test_junos_commit_check_that_fails_leaves_the_active_config(lab, tmp_path):
    """The candidate is valid line by line, but Junos refuses to commit it (an eBGP neighbor without a peer AS)."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    with (templates / "juniper_junos" / "default.j2").open("a") as handle:
        handle.write("set protocols bgp group transit neighbor 192.0.2.1\n")
    junos = _by_platform(lab)["juniper_junos"]
    before = lab.running_config(junos)
    state = deploy_config(inventory=str(lab.inventory_dir), templates=str(templates), backup_dir=str(tmp_path / "bk"),
                          auto_approve=True, hosts={"names": [junos]}, return_state=True)
    record = state.result(raise_on_failure=False)[junos]
    assert record.data["outcome"] == "rolled-back", record.error
    assert "refused 'commit check'" in record.error and "active config is unchanged" in record.error
    # the lines that say why, not only the last one ("error: configuration check-out failed")
    assert "peer AS number must be configured for an external peer / error: configuration check-out failed" \
        in record.error, record.error
    assert lab.running_config(junos) == before
    sent = lab.received_lines(junos)
    assert "commit" not in sent and sent[sent.index("commit check") + 1] == "rollback 0"


def test_a_secret_value_in_the_device_config_refuses_the_push_instead_of_typing_the_mask(lab, tmp_path):
    """The lab's login ``admin`` resolved as a secret masks ``username admin`` in every record: the
    plan cannot say what it would send, so the device is not touched (no '***' typed, no rollback)."""
    from nornflow.secrets import redaction

    redaction.register("admin")
    nxos = _by_platform(lab)["cisco_nxos"]
    before = lab.running_config(nxos)
    state = _deploy(lab, tmp_path, hosts={"names": [nxos]})
    record = state.result(raise_on_failure=False)[nxos]
    assert record.failed and "MaskedPlan" in record.error and "nothing was sent" in record.error, record.error
    assert lab.running_config(nxos) == before
    assert not any("***" in line for line in lab.received_lines(nxos))


def test_an_unknown_inventory_platform_fails_that_host_up_front(lab, tmp_path):
    """``platform: junos`` (the known name is ``juniper_junos``): refused by name, nothing typed at the device."""
    import yaml

    junos = _by_platform(lab)["juniper_junos"]
    hosts_file = lab.inventory_dir / "hosts.yaml"
    inventory = yaml.safe_load(hosts_file.read_text())
    inventory[junos]["platform"] = "junos"
    hosts_file.write_text(yaml.safe_dump(inventory))
    state = _deploy(lab, tmp_path)
    result = state.result(raise_on_failure=False)
    assert "unknown platform 'junos' (known: " in result[junos].error and "juniper_junos" in result[junos].error
    assert lab.received_lines(junos) == []
    assert {result[h].data["outcome"] for p, h in _by_platform(lab).items() if p != "juniper_junos"} == {"applied"}


@pytest.mark.parametrize("async_sessions", ["1", "0"])
def test_backup_of_an_unknown_platform_is_refused_before_connecting(lab, tmp_path, monkeypatch, async_sessions):
    """The device is down: a login attempt would say "connection refused"; the platform is refused first."""
    import yaml

    monkeypatch.setenv("NORNFLOW_ASYNC_SESSIONS", async_sessions)  # the async twin and the threaded task
    junos = _by_platform(lab)["juniper_junos"]
    hosts_file = lab.inventory_dir / "hosts.yaml"
    inventory = yaml.safe_load(hosts_file.read_text())
    inventory[junos]["platform"] = "junos"
    hosts_file.write_text(yaml.safe_dump(inventory))
    lab.stop_device(junos)
    state = backup_configs(inventory=str(lab.inventory_dir), backup_dir=str(tmp_path / "bk"), return_state=True)
    result = state.result(raise_on_failure=False)
    error = result[junos].error or ""
    assert "unknown platform 'junos' (known: " in error and "juniper_junos" in error, error
    assert "connection refused" not in error
    assert sorted(p.name for p in (tmp_path / "bk").glob("*.cfg")) == sorted(
        f"{h}.cfg" for p, h in _by_platform(lab).items() if p != "juniper_junos")
