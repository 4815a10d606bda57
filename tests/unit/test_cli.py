"""`nornflow` errors: one line on stderr (exit 2 expected, 1 unexpected), the traceback only with --debug.

The subprocess tests here never start a Prefect server: what they check fails (or answers)
before one is needed. The server's own tests are tests/integration/test_cli_*.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nornflow.cli import commands as cli
from nornflow.cli.console import FailureLines, WithoutTraceback
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
    quiet = WithoutTraceback(logging.Formatter("%(levelname)s %(message)s"))
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


def _env(tmp_path, **extra):
    """The environment of a person's shell, with a Prefect home of its own and no configured API."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_API", "NORNFLOW_SERVER", "NORNFLOW_LOCAL_SERVER"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               NORNFLOW_LOCAL_SERVER="on", **extra)  # as in a person's shell (not the pytest default)
    return env


def test_a_bad_filter_is_one_line_before_any_server(tmp_path, inventory):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "small", "inventory": str(inventory), "steps": {
        "spines": {"task": "nornir_scrapli.tasks:send_command", "params": {"command": "show version"},
                   "hosts": {"roles": "core"}},
    }}))
    runs = {
        "backup": ["backup", str(inventory), "--sites", "nowhere", "--dir", str(tmp_path / "b1")],
        "backup --debug": ["--debug", "backup", str(inventory), "--sites", "nowhere", "--dir", str(tmp_path / "b2")],
        "plan run": ["plan", "run", str(plan)],
        "show": ["show", str(inventory), "show version", "--names", "r9"],
    }
    done = {name: _nornflow(*argv, cwd=tmp_path, env=_env(tmp_path)) for name, argv in runs.items()}

    for name, proc in done.items():
        assert proc.returncode == 2, (name, proc.stderr)
        assert "Flow run" not in proc.stderr  # no flow ran: the check came first
    assert not (tmp_path / "prefect-home" / "nornflow-server").exists()  # and no server was started
    proc = done["backup"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr == NO_HOST + "; sites: ['fra'], roles: [], platforms: ['arista_eos']\n"  # once, alone
    assert proc.stdout == ""

    proc = done["backup --debug"]
    assert "Traceback (most recent call last)" in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("nornflow:")] == [
        NO_HOST + "; sites: ['fra'], roles: [], platforms: ['arista_eos']"
    ]

    proc = done["plan run"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("nornflow:")] == [
        "nornflow: plan 'small': host selections match no host of the inventory; fix the selection or the inventory:"
    ]
    assert done["show"].stderr.startswith("nornflow: host filter names hosts that are not in the inventory: ['r9']")


def test_the_checks_before_the_server_do_not_import_prefect(tmp_path, inventory):
    """Prefect reads PREFECT_API_URL once, when imported: the server must be chosen after the checks."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "small", "inventory": str(inventory), "steps": {
        "backup": {"flow": "backup_configs", "hosts": {"sites": "fra"}}}}))
    code = (
        "import sys\n"
        "from nornflow.cli import preflight\n"
        f"print(preflight.check_run({str(inventory)!r}, {{'sites': ['fra']}}))\n"
        f"preflight.check_plan({str(plan)!r}, None)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['r1']\n[]\n"


@pytest.mark.parametrize(("password", "expected"), [
    ("secret:Vault/prod:core#password",
     "nornflow: inventory {inv}: host 'r1' password: malformed secret reference 'secret:Vault/prod:core#password': "
     "expected secret:<block-type-slug>/<block-name>"),
    ("secret:nornflow-vualt/prod:core#password",
     "nornflow: inventory {inv}: host 'r1' password: no secrets backend 'nornflow-vualt' (installed: "),
])
def test_a_bad_secret_reference_is_reported_before_any_server(tmp_path, inventory, password, expected):
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    hosts["r1"]["password"] = password
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    done = _nornflow("backup", str(inventory), "--dir", str(tmp_path / "b"), cwd=tmp_path, env=_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(expected.format(inv=inventory))
    assert done.stderr.endswith("(used by 1 selected host(s))\n")
    assert not (tmp_path / "prefect-home" / "nornflow-server").exists()


def test_help_reads_as_plain_text():
    """Docstrings give many help texts; their ``literal`` and :mod:`role` markup is not for a terminal."""
    top = _nornflow("--help", cwd=Path.cwd())
    assert top.returncode == 0
    assert "nornflow server status" in top.stdout
    assert "usage: nornflow [-h] [--debug] COMMAND ..." in top.stdout
    for parser in _all_parsers(cli.build_parser()):
        text = parser.format_help()
        assert "``" not in text, parser.prog
        assert not re.search(r":[a-z]+:`", text), parser.prog
    doctor = _nornflow("doctor", "--help", cwd=Path.cwd())
    assert "nornflow doctor: check deployment files" in doctor.stdout
    assert "nornflow.monitor.health" in doctor.stdout


def test_a_core_command_loads_no_other_commands_modules():
    code = ("import sys\nfrom nornflow.cli import commands as cli\n"
            "cli.build_parser(['backup', 'inv']).parse_args(['backup', 'inv'])\n"
            "print(sorted(m for m in ('nornflow.plan', 'nornflow.gateway', 'nornflow.change', 'nornflow.deploy') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout == "[]\n", done.stderr
    assert "plan" in cli.build_parser(["plan", "run", "p.yaml"])._subparsers._group_actions[0].choices


def test_server_status_and_stop_when_none_runs(tmp_path):
    env = _env(tmp_path)
    status = _nornflow("server", "status", cwd=tmp_path, env=env)
    assert status.returncode == 1
    state = tmp_path / "prefect-home" / "nornflow-server"
    assert status.stdout.startswith(f"no local Prefect server is running (state: {state})")
    stop = _nornflow("server", "stop", cwd=tmp_path, env=env)
    assert (stop.returncode, stop.stdout) == (0, f"no local Prefect server is running (state: "
                                                 f"{tmp_path}/prefect-home/nornflow-server)\n")


def test_a_configured_api_url_is_used_and_nothing_is_started(tmp_path):
    from nornflow.cli import localserver

    env = _env(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    status = _nornflow("server", "status", cwd=tmp_path, env=env)
    assert (status.returncode, status.stdout) == (
        0, "Prefect API: http://127.0.0.1:9/api (PREFECT_API_URL is set: nornflow starts no server of its own)\n")
    # the active profile's PREFECT_API_URL counts as configured too
    home = tmp_path / "prefect-home"
    home.mkdir()
    (home / "profiles.toml").write_text('active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://gw:8780/api"\n'
                                        '[profiles.ephemeral]\n')
    env = _env(tmp_path)
    assert _nornflow("server", "status", cwd=tmp_path, env=env).stdout.startswith("Prefect API: http://gw:8780/api ")
    assert _nornflow("server", "status", cwd=tmp_path, env={**env, "PREFECT_PROFILE": "ephemeral"}).returncode == 1
    assert not (home / "nornflow-server" / "server.json").exists()
    assert localserver.Server(api_url="http://127.0.0.1:4200/api", managed=True).ui_url == "http://127.0.0.1:4200"


def test_the_console_filter_notes_failure_lines_the_engine_logged():
    lines = FailureLines()
    failed = logging.LogRecord("prefect.task_runs", logging.WARNING, __file__, 1, "[%s] FAILED: %s",
                               ("r1", "connection refused"), None)
    ok = logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, "[%s] ok in %.2f s%s", ("r2", 0.1, ""), None)
    assert lines.filter(failed) and lines.filter(ok)  # it notes, it never drops
    assert lines.lines == {("r1", "connection refused")}


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


def test_which_commands_need_a_server(monkeypatch):
    parser = cli.build_parser()
    monkeypatch.setenv("NORNFLOW_LOCAL_SERVER", "on")
    monkeypatch.delitem(sys.modules, "prefect.context", raising=False)
    assert cli._needs_server(parser.parse_args(["backup", "inv"]))
    assert cli._needs_server(parser.parse_args(["doctor"]))
    assert not cli._needs_server(parser.parse_args(["doctor", "--offline"]))  # static checks only
    assert not cli._needs_server(parser.parse_args(["plan", "validate", "p.yaml"]))
    assert not cli._needs_server(parser.parse_args(["server", "status"]))
    monkeypatch.delenv("NORNFLOW_LOCAL_SERVER")  # a command a pytest test runs: no server that outlives it
    assert not cli._needs_server(parser.parse_args(["backup", "inv"]))
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert cli._needs_server(parser.parse_args(["backup", "inv"]))  # a person's shell
    monkeypatch.setenv("NORNFLOW_LOCAL_SERVER", "off")  # Prefect's own temporary server, as before
    assert not cli._needs_server(parser.parse_args(["backup", "inv"]))
    monkeypatch.delenv("NORNFLOW_LOCAL_SERVER")
    monkeypatch.setitem(sys.modules, "prefect.context", sys)  # Prefect already loaded: its settings stand
    assert not cli._needs_server(parser.parse_args(["backup", "inv"]))
