"""The ledger journal: torn lines, last state wins, no secret values; on_failure validation."""

from __future__ import annotations

import os

import pytest

from nornflow.change.exceptions import LedgerError
from nornflow.config.ledger import Ledger, owner, process_alive
from nornflow.exceptions import NornFlowError, PlanError
from nornflow.plan.model import Plan
from nornflow.secrets.redaction import register


def _ledger(tmp_path) -> Ledger:
    return Ledger.create(tmp_path, "run-1", plan_hash="abc", approver="alice",
                         devices={"r1": {"lines": 2}, "r2": {"lines": 1}}, parameters={"templates": "t"})


def test_last_state_wins_and_a_torn_line_is_skipped(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.backed_up("c0ffee", ["r1", "r2"])
    ledger.mark("r1", "pushing", lines=2)
    with ledger.path.open("a") as handle:
        handle.write('{"kind": "device", "host": "r1", "sta')  # the process died mid-write
    assert ledger.states() == {"r1": "pushing", "r2": "backed-up"}
    assert ledger.history("r1") == ["planned", "backed-up", "pushing"]
    assert ledger.run["backup_commit"] == "c0ffee" and ledger.run["approver"] == "alice"
    assert Ledger.find(tmp_path, "run-1") is not None and Ledger.find(tmp_path, "run-2") is None


def test_missing_ledger_names_the_run_and_what_to_do(tmp_path):
    with pytest.raises(LedgerError, match=r"run-9 has no ledger .*--backup-dir") as caught:
        Ledger.open(tmp_path, "run-9")
    assert isinstance(caught.value, NornFlowError) and isinstance(caught.value, LookupError)


def test_no_secret_value_reaches_the_ledger(tmp_path):
    register("Zq9-ledger-canary")
    ledger = _ledger(tmp_path)
    ledger.mark("r1", "rolled-back", "device said Zq9-ledger-canary")
    assert "Zq9-ledger-canary" not in ledger.path.read_text()


def test_owner_process_is_known_alive_or_gone():
    assert process_alive(owner()) is True
    assert process_alive({**owner(), "pid": 2**22 + 7}) is False or os.name != "posix"
    assert process_alive({"hostname": "elsewhere", "pid": 1}) is None


def test_rollback_on_failure_needs_deploy_config():
    with pytest.raises(PlanError, match="on_failure: rollback needs the pre-change backups"):
        Plan.from_dict({"steps": {"s": {"task": "a.b:c", "on_failure": "rollback"}}})
    plan = Plan.from_dict({"on_failure": "rollback", "steps": {"s": {"flow": "deploy_config"}}})
    assert plan.on_failure == "rollback" and plan.steps[0].on_failure is None


def test_devices_left_for_their_window_pause_the_ledger_instead_of_ending_it(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.backed_up("c0ffee", ["r1", "r2"])
    ledger.mark("r1", "verified")
    ledger.mark("r2", "outside-window", "r2: outside its change window; not touched; next window ...")
    ledger.finish({"applied": 1, "outside-window": 1})
    run = ledger.run
    assert "ended" not in run and run["paused"] and run["owner"] is None  # resumable, no process to wait for
    assert ledger.waiting() == ["r2"]
    ledger.append({"kind": "resume", "by": "run-2", "owner": owner()})
    assert "paused" not in ledger.run and ledger.run["owner"] == owner()
    ledger.mark("r2", "verified")
    ledger.finish({"verified": 1})
    assert ledger.run["ended"] and ledger.waiting() == []
