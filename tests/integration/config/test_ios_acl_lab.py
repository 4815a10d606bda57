"""A remark meant for the middle of an IOS ACL, deployed to the lab over SSH: placed, verified, not rolled back."""

from __future__ import annotations

import pytest

from nornflow.flows import deploy_config

pytestmark = pytest.mark.integration

ACL = "ip access-list extended EDGE\n permit tcp any any eq 22\n permit tcp any any eq 443\n deny   ip any any\n"


@pytest.fixture
def lab(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=1, platforms=("cisco_ios",), directory=tmp_path / "lab") as lab:
        yield lab


def test_a_remark_in_the_middle_of_an_ios_acl_lands_in_place(lab, tmp_path):
    (name,) = lab.devices
    running = lab.running_config(name).replace("line vty", ACL.rstrip("\n") + "\n!\nline vty", 1)
    lab.set_running_config(name, running)
    before = lab.running_config(name)
    assert " permit tcp any any eq 443\n deny   ip any any" in before
    intended = before.replace(" permit tcp any any eq 443\n", " remark web servers\n permit tcp any any eq 443\n")
    templates = tmp_path / "templates"
    (templates / "cisco_iosxe").mkdir(parents=True)
    (templates / "cisco_iosxe" / "default.j2").write_text(intended)
    state = deploy_config(inventory=str(lab.inventory_dir), templates=str(templates),
                          backup_dir=str(tmp_path / "bk"), auto_approve=True, return_state=True)
    record = state.result(raise_on_failure=False)[name]
    assert state.is_completed() and record.data["outcome"] == "applied", record.error
    after = lab.running_config(name)
    assert " permit tcp any any eq 22\n remark web servers\n permit tcp any any eq 443\n deny   ip any any" in after
    typed = lab.received_lines(name)
    assert "permit tcp any any eq 22" not in " ".join(typed)  # the head of the list was not touched
