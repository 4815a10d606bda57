"""The newcomer's demo: a lab of simulated routers, a backup and a show run, a readable summary.

The lab mixes the four platforms the flows support (IOS-XE, EOS, Junos, NX-OS); Junos has no
``show ip interface brief``, so its spines run ``show interfaces terse`` instead (kept as text:
ntc-templates has no template for it).
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from nornflow.engine.records import HostRecord, RunResult
from nornflow.engine.run import result_of

SECRET_BLOCK = "nornflow-lab-credentials"  # noqa: S105 - a block name, not a value
DEMO_USER = "nornflow"
LAB_PLATFORMS = ("cisco_ios", "arista_eos", "juniper_junos", "cisco_nxos")
COMMANDS = ["show version", "show ip interface brief"]
PLATFORM_COMMANDS = {"juniper_junos": ["show version", "show interfaces terse"]}


def _print_result(title: str, result: RunResult, seconds: float) -> None:
    print(f"\n== {title}: {len(result.ok_hosts)}/{len(result.records)} hosts ok in {seconds:.1f} s ==")
    print(f"  {'host':<14} {'platform':<14} {'site':<5} {'role':<6} {'status':<7} {'time':>6}  error")
    for r in result.records:
        print(f"  {r.host:<14} {r.platform or '':<14} {r.site or '':<5} {r.role or '':<6} "
              f"{r.status:<7} {r.duration:>5.2f}s  {r.error or ''}")


def _one_per_platform(result: RunResult) -> list[HostRecord]:
    seen: dict[str | None, HostRecord] = {}
    for record in result.records:
        seen.setdefault(record.platform, record)
    return list(seen.values())


def run_demo(size: int = 10, directory: str | Path = ".nornflow/demo", ui_url: str | None = None,
             local_server: bool = False) -> int:
    """Run the demo; ``ui_url`` is the Prefect UI of the server the runs went to (``local_server``: NornFlow's)."""
    from nornflow.flows import backup_configs, show_commands
    from nornflow.lab import Lab
    from nornflow.lab.credentials import use_secret_block

    directory = Path(directory).resolve()
    backups = directory / "backups"
    if (directory / "lab").exists():
        shutil.rmtree(directory / "lab")
    print(f"Starting a lab of {size} simulated devices ({', '.join(LAB_PLATFORMS)}; SSH on 127.0.0.1)...")
    # The login is a secret, and every result is redacted of secrets: with the lab's default
    # `admin`, the Junos and NX-OS configs' own `admin` user would show as `***` in the backups.
    with Lab(size=size, platforms=LAB_PLATFORMS, directory=directory / "lab", username=DEMO_USER,
             password=secrets.token_urlsafe(12)) as lab:
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
            inventory=inventory, commands=COMMANDS, platform_commands=PLATFORM_COMMANDS,
            hosts={"roles": ["spine"]}, parse=True, return_state=True,
        )
        show = result_of(state)
        _print_result("show_commands (spines, parsed)", show, time.perf_counter() - started)
        for record in _one_per_platform(show):
            for command, entry in (record.data or {}).items():
                parsed = entry.get("parsed")
                text = f"{len(parsed)} row(s), first {parsed[0]}" if parsed else "no ntc-template matched"
                print(f"  {record.host} {command!r} parsed: {text[:140]}")
    print("\nLab stopped.")
    print(f"Backups (a git repository, one commit per run): {backups}")
    print(f"  git -C {backups} log --stat")
    print("See the runs, the per-host tables and the diffs in the Prefect UI:")
    if ui_url:
        print(f"  {ui_url}/runs")
        if local_server:
            print("  (the local Prefect server keeps running for the next commands; nornflow server stop stops it)")
    else:
        print("  .venv/bin/prefect server start    # then open http://127.0.0.1:4200/runs")
    failed = len(backup.failed_hosts) + len(show.failed_hosts)
    return 1 if failed else 0
