"""`nornflow` errors: one line on stderr (exit 2 expected, 1 unexpected), the traceback only with --debug.

The subprocess tests run real flows whose host selection matches nothing, so they fail
before any device is contacted; each process starts its own temporary Prefect server
(its own PREFECT_HOME), and the three run side by side to keep the wait to one start.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import yaml

from nornflow import cli
from nornflow.exceptions import HostSelectionError

NO_HOST = "nornflow: host filter (sites=nowhere) matches no host among 1"


def _fail_with(exc: Exception):
    def handler(args):
        raise exc

    return handler


def test_an_expected_error_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_lab", _fail_with(HostSelectionError("no host matches")))
    assert cli.main(["lab", "status"]) == 2
    err = capsys.readouterr().err
    assert err == "nornflow: no host matches\n"
    assert cli.main(["--debug", "lab", "status"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("nornflow: no host matches\n")


def test_an_unexpected_error_names_its_type_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_lab", _fail_with(RuntimeError("boom")))
    assert cli.main(["lab", "status"]) == 1
    assert capsys.readouterr().err == (
        "nornflow: unexpected error: RuntimeError: boom (run again with --debug for the traceback)\n"
    )
    assert cli.main(["--debug", "lab", "status"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("nornflow: unexpected error: RuntimeError: boom\n")


def test_commands_that_run_flows_quiet_prefect_console_tracebacks():
    parser = cli.build_parser()
    for argv in (["backup", "inv"], ["show", "inv", "show version"], ["demo"], ["plan", "run", "p.yaml"],
                 ["doctor"]):
        assert parser.parse_args(argv).uses_prefect, argv
    for argv in (["lab", "status"], ["plan", "validate", "p.yaml"], ["plan", "show", "p.yaml"]):
        assert not getattr(parser.parse_args(argv), "uses_prefect", False), argv


def test_console_formatter_drops_the_traceback_but_the_record_keeps_it():
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    quiet = cli._WithoutTraceback(logging.Formatter("%(levelname)s %(message)s"))
    assert quiet.format(record) == "ERROR failed"
    assert record.exc_info is not None
    assert "Traceback (most recent call last)" in logging.Formatter().format(record)  # what the API handler sends
    assert quiet.format(record) == "ERROR failed"  # even once exc_text is cached on the record


@pytest.fixture
def inventory(tmp_path):
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump(
        {"r1": {"hostname": "127.0.0.1", "port": 1, "platform": "arista_eos", "data": {"site": "fra"}}}
    ))
    return inv


def test_no_traceback_without_debug_when_a_flow_fails(tmp_path, inventory):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "small", "inventory": str(inventory), "steps": {
        "spines": {"task": "nornir_scrapli.tasks:send_command", "params": {"command": "show version"},
                   "hosts": {"roles": "core"}},
    }}))
    runs = {
        "backup": ["backup", str(inventory), "--sites", "nowhere", "--dir", str(tmp_path / "b1")],
        "backup --debug": ["--debug", "backup", str(inventory), "--sites", "nowhere", "--dir", str(tmp_path / "b2")],
        "plan run": ["plan", "run", str(plan)],
    }
    procs = {}
    for name, argv in runs.items():
        home = tmp_path / f"prefect-home-{len(procs)}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        procs[name] = subprocess.Popen([sys.executable, "-m", "nornflow.cli", *argv], cwd=tmp_path, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = {name: (proc, *proc.communicate(timeout=240)) for name, proc in procs.items()}

    proc, out, err = done["backup"]
    assert proc.returncode == 2, err
    assert "Traceback" not in out + err
    assert [line for line in err.splitlines() if line.startswith("nornflow:")] == [
        NO_HOST + "; sites: ['fra'], roles: [], platforms: ['arista_eos']"
    ]
    assert "Encountered exception during execution: HostSelectionError" in err  # the log line stays

    proc, out, err = done["backup --debug"]
    assert proc.returncode == 2, err
    assert "Traceback (most recent call last)" in err
    assert any(line.startswith(NO_HOST) for line in err.splitlines())

    proc, out, err = done["plan run"]
    assert proc.returncode == 2, err
    assert "Traceback" not in out + err
    assert [line for line in err.splitlines() if line.startswith("nornflow:")] == [
        "nornflow: plan 'small': host selections match no host of the inventory; fix the selection or the inventory:"
    ]
