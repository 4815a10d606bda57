"""The newcomer's demo: a lab of simulated routers, a backup and a show run, a readable summary."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from nornflow.engine import result_of
from nornflow.records import RunResult

SECRET_BLOCK = "nornflow-lab-credentials"  # noqa: S105 - a block name, not a value


def _print_result(title: str, result: RunResult, seconds: float) -> None:
    print(f"\n== {title}: {len(result.ok_hosts)}/{len(result.records)} hosts ok in {seconds:.1f} s ==")
    print(f"  {'host':<14} {'platform':<12} {'site':<5} {'role':<6} {'status':<7} {'time':>6}  error")
    for r in result.records:
        print(f"  {r.host:<14} {r.platform or '':<12} {r.site or '':<5} {r.role or '':<6} "
              f"{r.status:<7} {r.duration:>5.2f}s  {r.error or ''}")


def run_demo(size: int = 10, directory: str | Path = ".nornflow/demo") -> int:
    from nornflow.flows import backup_configs, show_commands
    from nornflow.lab import Lab
    from nornflow.lab.credentials import use_secret_block

    directory = Path(directory).resolve()
    backups = directory / "backups"
    if (directory / "lab").exists():
        shutil.rmtree(directory / "lab")
    print(f"Starting a lab of {size} simulated devices (fakenos, SSH on 127.0.0.1)...")
    with Lab(size=size, directory=directory / "lab") as lab:
        inventory = str(lab.inventory_dir)
        use_secret_block(lab.inventory_dir, lab.username, lab.password, SECRET_BLOCK)
        print(f"Inventory: {inventory}")
        print(f"Credentials: Prefect Secret block {SECRET_BLOCK!r}, referenced from defaults.yaml")
        started = time.perf_counter()
        state = backup_configs(inventory=inventory, backup_dir=str(backups), return_state=True)
        backup = result_of(state)
        _print_result("backup_configs", backup, time.perf_counter() - started)
        print(f"  flow run: {state.name} - {state.message}")
        started = time.perf_counter()
        state = show_commands(
            inventory=inventory, commands=["show version", "show ip interface brief"], hosts={"roles": ["spine"]},
            parse=True, return_state=True,
        )
        show = result_of(state)
        _print_result("show_commands (spines, parsed)", show, time.perf_counter() - started)
        for record in show.records[:2]:
            for command, entry in (record.data or {}).items():
                parsed = entry.get("parsed")
                text = f"{len(parsed)} row(s), first {parsed[0]}" if parsed else "no ntc-template matched"
                print(f"  {record.host} {command!r} parsed: {text[:140]}")
    print("\nLab stopped.")
    print(f"Backups (a git repository, one commit per run): {backups}")
    print(f"  git -C {backups} log --stat")
    print("See the runs, the per-host tables and the diffs in the Prefect UI:")
    print("  .venv/bin/prefect server start    # then open http://127.0.0.1:4200/runs")
    failed = len(backup.failed_hosts) + len(show.failed_hosts)
    return 1 if failed else 0
