"""`nornflow plan validate|show` through argparse, with a small inventory for selections."""

from __future__ import annotations

import argparse

import pytest
import yaml

from nornflow.cli import main
from nornflow.plan import cli

PLAN = {
    "name": "small",
    "inventory": "inv",
    "steps": {
        "all": {"task": "nornir_scrapli.tasks:send_command", "params": {"command": "show version"}},
        "spines": {"task": "nornir_scrapli.tasks:send_command", "hosts": {"roles": "spine"},
                   "depends_on": "all"},
    },
}


@pytest.fixture
def plan_file(tmp_path):
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump({
        "r1": {"hostname": "127.0.0.1", "platform": "arista_eos", "data": {"role": "spine"}},
        "r2": {"hostname": "127.0.0.1", "platform": "arista_eos", "data": {"role": "leaf"}},
    }))
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(PLAN))
    return path


def run(*argv: str) -> int:
    return main(list(argv))


def test_register_adds_plan_commands():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["plan", "show", "x.yaml", "--markdown"])
    assert args.func is cli.cmd_show and args.markdown


def test_validate_checks_selections_against_the_inventory(plan_file, capsys):
    assert run("plan", "validate", str(plan_file)) == 0
    assert "ok, 2 steps in 2 generations; selections match 2 hosts" in capsys.readouterr().out
    data = yaml.safe_load(plan_file.read_text())
    data["steps"]["spines"]["hosts"] = {"roles": "core"}
    plan_file.write_text(yaml.safe_dump(data))
    assert run("plan", "validate", str(plan_file)) == 2
    assert "spines" in capsys.readouterr().err
    assert run("plan", "validate", str(plan_file), "--no-inventory") == 0


def test_validate_reports_cycles(plan_file, capsys):
    data = yaml.safe_load(plan_file.read_text())
    data["steps"]["all"]["depends_on"] = "spines"
    plan_file.write_text(yaml.safe_dump(data))
    assert run("plan", "validate", str(plan_file)) == 2
    assert "cycle: all -> spines -> all" in capsys.readouterr().err


def test_show_prints_generations_or_markdown(plan_file, capsys):
    assert run("plan", "show", str(plan_file)) == 0
    out = capsys.readouterr().out
    assert "generation 2 (1 in parallel)\n  spines" in out
    assert run("plan", "show", str(plan_file), "--markdown") == 0
    assert "```mermaid" in capsys.readouterr().out
