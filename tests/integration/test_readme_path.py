"""The README's commands as a newcomer types them, each run as a subprocess (issue 21, "The README path").

- ``nornflow windows show --site fra`` in a checkout names the repository's calendar, and with it
  shows the decision and the next windows;
- ``nornflow secrets keygen`` says where the private key went and prints the public key alone on stdout;
- ``blocks/register.py`` reports every unset variable at once, before any server is started, and
  creates a ``nornflow-local`` block;
- a script whose last line is its own ``run_task`` flow exits without the events worker's
  "can't register atexit after shutdown" traceback, with its progress artifact finished;
- a script that imports the library on Prefect's temporary server sends no telemetry, and that
  server keeps events as long as the fleet report looks back.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
NORNFLOW = Path(sys.executable).with_name("nornflow")
EXIT_NOISE = re.compile(r"Error emitting event|can't register atexit|Traceback|Failed to send telemetry")


def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 240,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=timeout, input=stdin, check=False)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NORNFLOW_", "PREFECT_"))}
    return {**env, **extra}


def test_windows_show_in_a_checkout_names_the_repository_calendar_then_shows_its_windows() -> None:
    bare = run([str(NORNFLOW), "windows", "show", "--site", "fra"], env=clean_env())
    assert bare.returncode == 0, bare.stderr
    assert "no change calendar configured" in bare.stdout
    assert "nornflow windows show --calendar deployments/change-calendar.yaml --site fra" in bare.stdout

    shown = run([str(NORNFLOW), "windows", "show", "--calendar", "deployments/change-calendar.yaml",
                 "--site", "fra"], env=clean_env())
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "calendar deployments/change-calendar.yaml"
    assert re.match(r"site fra: (OPEN|CLOSED) now \(", lines[1]), lines
    windows = [line for line in lines[2:] if "window fra-night" in line]
    assert len(windows) == 5 and all(" CE" in w and "UTC" in w for w in windows), lines   # README: next 5


def test_keygen_says_where_the_private_key_went_and_prints_the_public_key_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run([str(NORNFLOW), "secrets", "keygen"], env=clean_env(HOME=str(home)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    key_file = home / ".config" / "nornflow" / "age.key"
    assert re.fullmatch(r"age1[0-9a-z]{58}\n", done.stdout), done.stdout       # `$(nornflow secrets keygen)`
    assert f"private key written to {key_file} (0600)" in done.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert done.stdout.strip() in key_file.read_text()

    elsewhere = tmp_path / "other.key"
    done = run([str(NORNFLOW), "secrets", "keygen", "--key-file", str(elsewhere)], env=clean_env(HOME=str(home)),
               cwd=tmp_path)
    assert done.returncode == 0 and f"export NORNFLOW_AGE_KEY_FILE={elsewhere}" in done.stderr


def test_register_names_every_unset_variable_before_it_starts_a_server(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run([sys.executable, "blocks/register.py", "--config", "blocks/environments.example.yaml", "--env", "lab"],
               env=clean_env(PREFECT_HOME=str(tmp_path / "prefect-home")))
    took = time.monotonic() - started
    assert done.returncode != 0
    assert "lab/lab-device-password.value: environment variable NORNFLOW_LAB_DEVICE_PASSWORD is not set" in done.stderr
    assert "lab/repo.recipients[0]: environment variable NORNFLOW_AGE_RECIPIENT is not set" in done.stderr
    assert "export NORNFLOW_AGE_RECIPIENT=... NORNFLOW_LAB_DEVICE_PASSWORD=..." in done.stderr
    assert "Starting temporary server" not in done.stdout + done.stderr and "locked" not in done.stderr
    assert not (tmp_path / "prefect-home" / "prefect.db").exists()             # no server, no database
    assert took < 30, took                                                     # imports only, no server start


def test_register_creates_the_lab_blocks_including_nornflow_local(prefect_server: str, tmp_path: Path) -> None:
    from nornflow.blocks import LocalAgeSecrets

    home = tmp_path / "home"
    recipient = run([str(NORNFLOW), "secrets", "keygen"], env=clean_env(HOME=str(home)), cwd=tmp_path).stdout.strip()
    env = clean_env(PREFECT_API_URL=prefect_server, NORNFLOW_LAB_DEVICE_PASSWORD="lab-pw-readme",
                    NORNFLOW_AGE_RECIPIENT=recipient)
    args = [sys.executable, "blocks/register.py", "--config", "blocks/environments.example.yaml", "--env", "lab"]
    done = run(args, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == f"saving to the Prefect server at {prefect_server}"
    assert re.search(r"^(created|updated|unchanged) +nornflow-local/repo$", done.stdout, re.M), done.stdout
    assert re.search(r"^(created|updated|unchanged) +secret/lab-device-password$", done.stdout, re.M), done.stdout
    block = LocalAgeSecrets.load("repo", _sync=True)  # type: ignore[call-arg]
    assert block.recipients == [recipient] and block.directory == "secrets"
    again = run(args, env=env)
    assert "unchanged nornflow-local/repo" in again.stdout, again.stdout


SCRIPT = """
import sys
from nornflow import run_task
from prefect import flow

@flow
def uptime(inventory: str):
    from nornflow.tasks import show_commands as show
    result = run_task(show, nornir=inventory, task_kwargs={"commands": ["show version"]}, retries=1)
    return result.failed_hosts

print("FAILED HOSTS", uptime(sys.argv[1]))
"""


def progress_descriptions(api: str, flow_name: str) -> list[str]:
    import httpx

    runs = httpx.post(f"{api}/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}}).json()
    found = httpx.post(f"{api}/artifacts/filter", json={
        "artifacts": {"flow_run_id": {"any_": [r["id"] for r in runs]}, "type": {"any_": ["progress"]}}}).json()
    return [a["description"] for a in found]


def test_a_script_ending_with_its_own_flow_exits_cleanly(prefect_server: str, nornflow_lab_factory: Any,
                                                         tmp_path: Path) -> None:
    lab = nornflow_lab_factory(size=2)
    flow_name = f"uptime-{os.getpid()}-{time.monotonic_ns()}"
    script = tmp_path / "myflow.py"
    script.write_text(SCRIPT.replace("@flow\n", f"@flow(name={flow_name!r})\n"))
    outputs = []
    for _ in range(3):  # it failed 4 runs of 5 before
        done = run([sys.executable, str(script), str(lab.inventory_dir)],
                   env={**os.environ, "PREFECT_API_URL": prefect_server}, cwd=tmp_path)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0 and "FAILED HOSTS []" in done.stdout, outputs[-1][-3000:]
    noisy = [o for o in outputs if EXIT_NOISE.search(o)]
    assert not noisy, noisy[0][-3000:]
    finished = progress_descriptions(prefect_server, flow_name)
    assert sorted(finished) == ["show_commands: 2 of 2 hosts (100%): 2 ok, 0 failed (finished)"] * 3, finished


TEMPORARY = SCRIPT + """
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    print("RETENTION", client.request("GET", "/admin/settings").json()["server"]["events"]["retention_period"])
"""


def test_a_script_on_the_temporary_server_sends_no_telemetry_and_keeps_30_days(nornflow_lab_factory: Any,
                                                                               tmp_path: Path) -> None:
    lab = nornflow_lab_factory(size=1)
    script = tmp_path / "myflow.py"
    script.write_text(TEMPORARY)
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"))
    done = run([sys.executable, str(script), str(lab.inventory_dir)], env=env, cwd=tmp_path, timeout=400)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "FAILED HOSTS []" in out, out[-3000:]
    assert "Starting temporary server" in out                    # the path a newcomer's script takes
    assert not EXIT_NOISE.search(out), out[-3000:]
    retention = re.search(r"RETENTION (\S+)", out)
    assert retention is not None and retention.group(1) in ("P30D", "2592000.0"), out[-2000:]


def test_the_example_config_has_a_nornflow_local_entry() -> None:
    config = yaml.safe_load((ROOT / "blocks" / "environments.example.yaml").read_text())
    local = [e for e in config["environments"]["lab"] if e["type"] == "nornflow-local"]
    assert local and local[0]["fields"]["recipients"] == ["${NORNFLOW_AGE_RECIPIENT}"]
