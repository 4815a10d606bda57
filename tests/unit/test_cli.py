"""`nornflow` errors: one line on stderr (exit 2 expected, 1 unexpected), the traceback only with --debug.

The subprocess tests run real flows whose host selection matches nothing, so they fail
before any device is contacted; each process starts its own temporary Prefect server
(its own PREFECT_HOME), and the three run side by side to keep the wait to one start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _nornflow(*argv, cwd, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "nornflow.cli", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False, **kwargs)


def _all_parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_parsers(child)


def test_every_subcommand_at_every_depth_accepts_debug():
    parsers = list(_all_parsers(cli.build_parser()))
    assert len(parsers) > 20
    assert [p.prog for p in parsers if "--debug" not in p._option_string_actions] == []
    parser = cli.build_parser()
    assert parser.parse_args(["plan", "validate", "p.yaml", "--debug"]).debug is True
    assert parser.parse_args(["--debug", "plan", "validate", "p.yaml"]).debug is True  # not reset by the subcommand
    assert parser.parse_args(["plan", "validate", "p.yaml"]).debug is False


def test_debug_after_the_command_prints_the_traceback(tmp_path):
    plain = _nornflow("plan", "validate", "missing.yaml", cwd=tmp_path)
    late = _nornflow("plan", "validate", "missing.yaml", "--debug", cwd=tmp_path)
    assert plain.returncode == late.returncode == 2, late.stderr
    expected = "nornflow: plan file missing.yaml cannot be read: No such file or directory\n"
    assert plain.stderr == expected
    assert "Traceback (most recent call last)" in late.stderr
    assert late.stderr.endswith(expected)


def _wait_blocked(pid, states, timeout=60.0):
    """Wait until the process sleeps in one of the kernel functions ``states`` (Linux /proc/PID/wchan)."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            where = wchan.read_text()
        except OSError:
            pytest.skip("/proc/PID/wchan is not readable here")
        if where in states:
            return
        time.sleep(0.05)
    raise AssertionError(f"the process never blocked in {states} (last: {where!r})")


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)  # reading it blocks until a writer opens it: the command is waiting, as on a slow device
    # A shell that starts a job in the background (CI runners do) ignores SIGINT in it, and a Python
    # started with SIGINT ignored keeps ignoring it: give the command the terminal's default.
    proc = subprocess.Popen([sys.executable, "-m", "nornflow.cli", "plan", "validate", str(fifo)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_blocked(proc.pid, {"wait_for_partner", "fifo_open"})
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert (out, err) == ("", "nornflow: interrupted\n")


def test_lab_up_names_a_bad_platform_and_starts_nothing(tmp_path):
    done = _nornflow("lab", "up", "--platforms", "cisco_ios,nosuch", "--dir", str(tmp_path / "lab"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("nornflow: lab platform 'nosuch' is not one the lab simulates; choose from arista_eos, "
                           "cisco_ios, cisco_nxos, juniper_junos (--platforms, comma-separated)\n")
    assert not (tmp_path / "lab").exists()  # no daemon was started, no log written


def test_a_lab_that_fails_to_start_shows_its_last_error_line(tmp_path):
    from nornflow.exceptions import LabError
    from nornflow.lab import daemon

    (tmp_path / "inventory").write_text("a file where the lab writes its inventory folder")
    with pytest.raises(LabError) as caught:
        daemon.up(tmp_path, size=1, platforms=["cisco_ios"])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the lab exited while starting (code 1): FileExistsError: [Errno 17] File exists: ")
    assert message.endswith(f"(full log: {tmp_path / 'lab.log'})")
    assert "Traceback (most recent call last)" in (tmp_path / "lab.log").read_text()  # the log keeps it all


def test_a_malformed_gateway_config_is_one_line_with_file_and_line(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("port: 8780\nworkspaces:\n  - name: lab\n   url: [http://127.0.0.1:4200\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    env["NORNFLOW_CONFIG"] = str(config)
    done = _nornflow("users", "list", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"nornflow: gateway config file {config}:4: malformed YAML (")
