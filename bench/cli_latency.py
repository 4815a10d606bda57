"""How long a person waits for `nornflow`: the CLI run as a subprocess against a 10-device lab.

    .venv/bin/python bench/cli_latency.py                 # 5 runs of each, fresh PREFECT_HOME
    .venv/bin/python bench/cli_latency.py --runs 9 --size 10
    .venv/bin/python bench/cli_latency.py --checkout /tmp/old   # another checkout's nornflow (PYTHONPATH)
    NORNFLOW_LOCAL_SERVER=off .venv/bin/python bench/cli_latency.py   # Prefect's temporary server per command

Measured, each from spawning the process to its exit:
- `backup` the first time (with a fresh PREFECT_HOME: starts the local server, creates its database);
- `backup` from the second call on (median, min and max of --runs);
- `backup --sites nosuch`, a filter typo (median of --runs), and how many times it was reported;
- `server status`.
Targets (issue 21): backup from the second call within 3 s, a bad filter reported once within 2 s.
The script stops what it started (the lab, the local server) and removes its directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nornflow.cli", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)
    return time.perf_counter() - started, done


def _figures(name: str, times: list[float], target: float | None = None) -> str:
    verdict = ""
    if target is not None:
        verdict = f"  (target {target:.0f} s: {'met' if statistics.median(times) <= target else 'MISSED'})"
    return (f"{name:<34} median {statistics.median(times):5.2f} s   min {min(times):5.2f}   max {max(times):5.2f}"
            f"   n={len(times)}{verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of each repeated command (default 5)")
    parser.add_argument("--size", type=int, default=10, help="lab devices (default 10)")
    parser.add_argument("--checkout", type=Path, help="run the nornflow package of this directory instead")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nornflow-cli-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(work / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("NORNFLOW_SERVER_DIR", None)
    if args.checkout:
        env["PYTHONPATH"] = str(args.checkout.resolve())
    lab_dir = work / "lab"
    try:
        seconds, done = _run(["lab", "up", "--dir", str(lab_dir), "--size", str(args.size)], env, work)
        if done.returncode:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        inventory = str(lab_dir / "inventory")
        backup = ["backup", inventory, "--dir", str(work / "backups")]
        print(f"lab of {args.size} devices up in {seconds:.2f} s; PREFECT_HOME={env['PREFECT_HOME']}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        first, done = _run(backup, env, work)
        if done.returncode:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            return 1
        print(f"{'backup, first call':<34} {first:5.2f} s")

        again = []
        for _ in range(args.runs):
            seconds, done = _run(backup, env, work)
            if done.returncode:
                print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                return 1
            again.append(seconds)
        print(_figures("backup, second call on", again, 3.0))

        typo, reported = [], set()
        for _ in range(args.runs):
            seconds, done = _run([*backup, "--sites", "nosuch"], env, work)
            typo.append(seconds)
            text = done.stdout + done.stderr
            reported.add(text.count("matches no host"))
        print(_figures("bad filter", typo, 2.0) + f"   reported {sorted(reported)} time(s) per call")

        status, done = _run(["server", "status"], env, work)
        print(f"{'server status':<34} {status:5.2f} s   ({done.stdout.splitlines()[0] if done.stdout else '-'})")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        _run(["server", "stop"], env, work)
        _run(["lab", "down", "--dir", str(lab_dir)], env, work)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
