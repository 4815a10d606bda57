"""`nornflow` against its local Prefect server, run as a person runs it: a subprocess, a lab, a shell's environment.

Each test has its own PREFECT_HOME (so its own server state directory: parallel tests never share a
server) and stops whatever server it started, checking that the process is gone. The session's
shared Prefect harness is not needed here: this module turns it off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nornflow.lab import Lab

pytestmark = pytest.mark.integration

STARTING = "Starting a local Prefect server at http://127.0.0.1:"


@pytest.fixture(scope="session")
def _prefect() -> None:
    """These tests start their own servers, through the CLI: no session harness."""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(size=2, platforms=("cisco_ios", "arista_eos"), directory=tmp_path_factory.mktemp("lab"),
             password="lab-Pa55-0f-the-day") as running:
        yield running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _state(home: Path) -> dict | None:
    path = home / "nornflow-server" / "server.json"
    return json.loads(path.read_text()) if path.exists() else None


class Shell:
    """A terminal with its own PREFECT_HOME; ``stop()`` leaves no server behind (checked)."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.home = tmp_path / "prefect-home"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PREFECT_API", "NORNFLOW_SERVER", "NORNFLOW_LOCAL_SERVER"))}
        self.env.update(PREFECT_HOME=str(self.home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                        NORNFLOW_LOCAL_SERVER="on")  # what a shell gets by default; under pytest it is asked for
        self.pids: set[int] = set()

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "nornflow.cli", *args]

    def run(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None):
        started = time.perf_counter()
        done = subprocess.run(self.argv(*args), cwd=self.cwd, env=env or self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        done.seconds = time.perf_counter() - started
        self._note()
        return done

    def _note(self) -> None:
        state = _state(self.home)
        if state:
            self.pids.add(state["pid"])

    def stop(self) -> None:
        self._note()
        self.run("server", "stop", timeout=60)
        for pid in self.pids:  # whatever the stop missed, killed here, and the test fails below
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        left = [pid for pid in self.pids if _alive(pid)]
        assert not left, f"server processes left running: {left}"


@pytest.fixture
def shell(tmp_path):
    terminal = Shell(tmp_path)
    yield terminal
    terminal.stop()
    assert not any(_alive(pid) for pid in terminal.pids)


def test_the_first_command_starts_the_server_and_the_next_ones_reuse_it(shell, lab):
    inventory = str(lab.inventory_dir)
    first = shell.run("backup", inventory, "--dir", "backups")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(STARTING) == 1
    assert "temporary server" not in first.stderr  # Prefect's own per-process server is not used
    assert "backup_configs: 2/2 hosts ok, 0 failed, 2 changed in " in first.stdout
    state = _state(shell.home)
    assert state is not None and _alive(state["pid"])

    second = shell.run("backup", inventory, "--dir", "backups")
    assert second.returncode == 0, second.stderr
    assert STARTING not in second.stderr
    assert "temporary server" not in second.stderr
    assert _state(shell.home)["pid"] == state["pid"]
    print(f"backup of 2 devices: first call {first.seconds:.1f} s, second {second.seconds:.1f} s")

    typo = shell.run("backup", inventory, "--dir", "backups", "--sites", "nosuch")
    assert typo.returncode == 2
    assert (typo.stdout + typo.stderr).count("matches no host") == 1

    status = shell.run("server", "status")
    assert status.returncode == 0
    assert status.stdout.startswith(f"local Prefect server: running, pid {state['pid']}, since ")
    assert f"  UI:  http://127.0.0.1:{state['port']}\n" in status.stdout
    assert "stop it with: nornflow server stop" in status.stdout
    # the UI is served, and calls the API on this server's port, not Prefect's default 4200
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{state['port']}/ui-settings", timeout=10) as answer:
        assert json.load(answer)["api_url"] == f"http://127.0.0.1:{state['port']}/api"

    stop = shell.run("server", "stop")
    assert stop.stdout == f"stopped the local Prefect server at http://127.0.0.1:{state['port']} (pid {state['pid']})\n"
    assert not _alive(state["pid"])
    assert shell.run("server", "status").returncode == 1


def test_a_server_that_died_is_replaced(shell, lab):
    inventory = str(lab.inventory_dir)
    started = shell.run("server", "start")
    assert started.returncode == 0, started.stderr
    assert started.stderr.count(STARTING) == 1
    old = _state(shell.home)
    os.killpg(old["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(old["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)

    name = sorted(yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text()))[0]
    again = shell.run("show", inventory, "show version", "--names", name)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(STARTING) == 1
    new = _state(shell.home)
    assert new["pid"] != old["pid"] and _alive(new["pid"])
    assert "1/1 hosts ok" in again.stdout


def test_two_commands_at_once_share_one_server(shell, lab):
    inventory = str(lab.inventory_dir)
    procs = [subprocess.Popen(shell.argv("backup", inventory, "--dir", f"backups-{i}"), cwd=shell.cwd,
                              env=shell.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    done = [(p, *p.communicate(timeout=300)) for p in procs]
    shell._note()
    for proc, _out, err in done:
        assert proc.returncode == 0, err
    assert sum(err.count(STARTING) for _p, _o, err in done) == 1  # one started it, the other waited for it
    assert len(shell.pids) == 1
    log = (shell.home / "nornflow-server" / "server.log").read_text()
    assert log.count("Check out the dashboard at") <= 1  # one server start in the log


def test_every_failed_host_gets_one_line_with_its_reason(shell, lab, tmp_path):
    """Unresolvable secret, key file inside the repository, refused connection: one console line each."""
    started = shell.run("server", "start")
    assert started.returncode == 0, started.stderr
    api = f"http://127.0.0.1:{_state(shell.home)['port']}/api"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "secrets").mkdir()
    key = repo / "age.key"
    key.write_text("AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n")
    setup = (
        "from prefect.blocks.system import Secret\n"
        "from nornflow.blocks.local import LocalAgeSecrets\n"
        f"Secret(value={lab.password!r}).save('lab-password', overwrite=True)\n"
        f"LocalAgeSecrets(directory={str(repo / 'secrets')!r}).save('repo', overwrite=True)\n"
    )
    made = subprocess.run([sys.executable, "-c", setup], env={**shell.env, "PREFECT_API_URL": api}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr

    lab_hosts = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())
    good = sorted(lab_hosts.items())[0][1]
    hosts = {
        "ok1": {**good, "password": "secret:secret/lab-password"},
        "nosecret": {**good, "password": "secret:secret/no-such-block"},
        "keyinrepo": {**good, "password": "secret:nornflow-local/repo:lab#password"},
        "refused": {**good, "port": _closed_port(), "password": "secret:secret/lab-password"},
    }
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    for name in ("groups.yaml", "defaults.yaml"):
        if (lab.inventory_dir / name).exists():
            (inv / name).write_text((lab.inventory_dir / name).read_text())
    defaults = yaml.safe_load((inv / "defaults.yaml").read_text()) or {}
    defaults.pop("password", None)
    extras = defaults.get("connection_options", {}).get("scrapli", {}).get("extras", {})
    extras["auth_secondary"] = "secret:secret/lab-password"
    (inv / "defaults.yaml").write_text(yaml.safe_dump(defaults))

    env = {**shell.env, "NORNFLOW_AGE_KEY_FILE": str(key)}
    env.pop("NORNFLOW_AGE_KEY", None)
    done = shell.run("backup", str(inv), "--dir", "backups", "--retries", "0", env=env)
    console = done.stdout + done.stderr
    assert done.returncode == 1, console
    assert "backup_configs: 1/4 hosts ok, 3 failed, 1 changed in " in done.stdout
    lines = {name: [line for line in console.splitlines() if f"[{name}] FAILED" in line]
             for name in ("nosecret", "keyinrepo", "refused")}
    assert {name: len(found) for name, found in lines.items()} == {"nosecret": 1, "keyinrepo": 1, "refused": 1}
    assert "secret:secret/no-such-block" in lines["nosecret"][0] or "no-such-block" in lines["nosecret"][0]
    assert f"the age key file {key} is inside {repo}" in lines["keyinrepo"][0]
    assert "refused" in lines["refused"][0].lower() or "connect" in lines["refused"][0].lower()
    assert "[ok1] FAILED" not in console
    assert lab.password not in console  # never a secret's value
    assert "AGE-SECRET-KEY" not in console


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: nothing listens there
