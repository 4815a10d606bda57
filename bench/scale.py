"""Benchmark: backups at 100, 500 and 1,000 devices; plain Nornir against the backup_configs flow.

Every measured run is its own process, so each has its own peak RSS (its ``ru_maxrss``),
started from the same interpreter against the same lab; imports are not timed. The lab runs in
its own process (``nornflow lab up``), and the Prefect server the flows report to runs on
PostgreSQL (Debian's, on a temporary directory), as in production. Variants, alternating:

- ``nornir``: plain Nornir + nornir-scrapli, ``show running-config`` on every host, configs to files;
- ``nornir-close``: the same, closing each session as soon as its host is done (as the engine does);
- ``flow``: the ``backup_configs`` flow (git commit, artifacts, events included);
- ``sharded``: the parent run of a deployment (run here, as a worker's flow-run process would) whose
  ``--shards`` shards (by count) two process workers take, each its own flow run.

For the flow, the table also gives the Prefect task runs the run created and the HTTP requests
the client made to the Prefect API (counted in the child at httpx's send). Medians of ``--runs``.

    .venv/bin/python bench/scale.py --sizes 100,500,1000 --runs 3

Big configs (``--config-lines 5000``): instead, one lab of twice ``--sizes`` IOS devices (its own
process, this script's ``--lab``), half of them holding a ``--config-lines`` config in a real edge
router's shape (:mod:`bench.big_config`), half the lab's toy config; in the same run, alternating,
``backup_configs`` and a one-line ``deploy_config`` (auto-approved, whole intended config rendered
from a template, plan, snapshot, push, exact verification) on each half. The line is removed
again after each timed deploy, outside the timing. Ratios are big over toy, per device as a whole
run's wall time (all devices run at once, ``--max-sessions``).

    .venv/bin/python bench/scale.py --config-lines 5000 --sizes 100 --runs 3

Through a bastion (``--bastion``): the ``backup_configs`` flow over ``--sizes`` devices (one size),
direct and through one real OpenSSH jump host in front of the lab (``tests/servers/sshd.py``; every
device session a channel of one shared bastion connection), on the async path (the flow's) and the
threaded one (``NORNFLOW_ASYNC_SESSIONS=0``: paramiko), alternating; medians and bastion / direct.

    .venv/bin/python bench/scale.py --bastion --sizes 100 --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("nornir", "nornir-close", "flow")
SHARDED = "backup_configs/bench-sharded"
#: Big-config variants: (flow, which half of the lab).
CONFIG_VARIANTS = ("backup-toy", "backup-big", "deploy-toy", "deploy-big")
#: The one line each timed deploy adds (and the reset removes).
ONE_LINE = "ntp server 10.9.9.9"


# -- the child: one measured run -------------------------------------------------------------------

def _count_api_calls() -> dict[str, int]:
    import httpx

    counts = {"api": 0}
    for cls in (httpx.Client, httpx.AsyncClient):
        original = cls.send

        if cls is httpx.Client:
            def send(self: Any, request: Any, *a: Any, _o: Any = original, **k: Any) -> Any:
                counts["api"] += 1
                return _o(self, request, *a, **k)
        else:
            async def send(self: Any, request: Any, *a: Any, _o: Any = original, **k: Any) -> Any:  # type: ignore[misc]
                counts["api"] += 1
                return await _o(self, request, *a, **k)
        cls.send = send  # type: ignore[method-assign,assignment]
    return counts


def _send_and_close(task: Any, command: str) -> Any:
    from nornir_scrapli.tasks import send_command

    try:
        return send_command(task, command=command)
    finally:
        with contextlib.suppress(Exception):
            task.host.close_connections()


def config_child(variant: str, inventory: str, out: str, sessions: int) -> dict[str, Any]:
    """One big-config run: backup_configs or a one-line deploy_config on one half of the lab."""
    from nornflow.engine.run import result_of
    from nornflow.flows import backup_configs, deploy_config

    lab = json.loads((Path(inventory) / "bench-lab.json").read_text())
    kind, half = variant.split("-")
    hosts = {"names": lab[half]}
    started = time.perf_counter()
    if kind == "backup":
        state = backup_configs(inventory=inventory, backup_dir=out, hosts=hosts, max_sessions=sessions, retries=0,
                               return_state=True)
    else:
        state = deploy_config(inventory=inventory, templates=lab["templates"], hosts=hosts, backup_dir=out,
                              auto_approve=True, max_sessions=sessions, return_state=True)
    seconds = time.perf_counter() - started
    result = result_of(state)
    if kind == "deploy":  # untimed: take the line out again, so every run is the same one-line change
        from nornir_scrapli.tasks import send_configs

        from nornflow.inventory.load import load_nornir

        nr = load_nornir(inventory, num_workers=sessions).filter(filter_func=lambda h: h.name in lab[half])
        reset = nr.run(task=send_configs, configs=[f"no {ONE_LINE}"])
        nr.close_connections()
        if reset.failed:
            raise RuntimeError(f"reset failed on {sorted(reset.failed_hosts)}")
    return {"seconds": seconds, "ok": len(result.ok_hosts), "per_device_ms": 1000 * seconds / len(lab[half]),
            "state": state.type.value, "message": (state.message or "")[:300]}


def serve_lab(directory: Path, size: int, lines: int) -> None:
    """The big-config lab (this script's ``--lab``): ``size`` IOS devices, the first half with big configs."""
    import signal
    import threading

    sys.path.insert(0, str(ROOT))
    from bench.big_config import big_ios_config
    from nornflow.lab import Lab

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Lab(size=size, platforms=("cisco_ios",), directory=directory / "lab") as lab:
        names = list(lab.devices)
        big, toy = names[: size // 2], names[size // 2:]
        templates = directory / "templates"
        (templates / "configs").mkdir(parents=True, exist_ok=True)
        (templates / "cisco_iosxe").mkdir(exist_ok=True)
        (templates / "cisco_iosxe" / "default.j2").write_text('{% include "configs/" ~ host.name ~ ".cfg" %}\n')
        for name in names:
            if name in big:
                lab.set_running_config(name, big_ios_config(lab.running_config(name), lines))
            shown = lab.running_config(name)
            anchor = "ntp server 10.0.0.1\n"
            (templates / "configs" / f"{name}.cfg").write_text(shown.replace(anchor, f"{anchor}{ONE_LINE}\n", 1))
        state = {"big": big, "toy": toy, "templates": str(templates), "inventory": str(lab.inventory_dir),
                 "lines": {"big": len(lab.running_config(big[0]).splitlines()),
                           "toy": len(lab.running_config(toy[0]).splitlines())}}
        (lab.inventory_dir / "bench-lab.json").write_text(json.dumps(state))
        (directory / "ready").write_text(str(lab.inventory_dir))
        stop.wait()


def child(variant: str, inventory: str, out: str, sessions: int) -> dict[str, Any]:
    from nornflow.settings import apply_prefect_defaults

    apply_prefect_defaults()
    counts = _count_api_calls()
    if variant in CONFIG_VARIANTS:
        return config_child(variant, inventory, out, sessions)
    from nornflow.inventory.load import load_nornir

    if variant.startswith("nornir"):
        from nornir_scrapli.tasks import send_command

        started = time.perf_counter()
        nr = load_nornir(inventory, num_workers=sessions)
        task = _send_and_close if variant == "nornir-close" else send_command
        result = nr.run(task=task, command="show running-config")
        nr.close_connections()
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        ok = 0
        for host, multi in result.items():
            if not multi.failed:
                (folder / f"{host}.cfg").write_text(multi[0].result)
                ok += 1
        return {"seconds": time.perf_counter() - started, "ok": ok}

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

    from nornflow.engine.run import result_of
    from nornflow.flows import backup_configs

    if variant == "sharded":  # the parent run of the deployment, executed here as a worker's process would
        from prefect.flow_engine import load_flow_and_flow_run, run_flow

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(SHARDED)
            run = client.create_flow_run_from_deployment(deployment.id, parameters={
                "inventory": inventory, "backup_dir": out, "max_sessions": sessions})
        os.environ["PREFECT__FLOW_RUN_ID"] = str(run.id)
        import_calls = counts["api"]
        started = time.perf_counter()
        flow_run, flow = load_flow_and_flow_run(run.id)
        state = run_flow(flow, flow_run=flow_run, return_type="state")
    else:
        import_calls = counts["api"]
        started = time.perf_counter()
        state = backup_configs(inventory=inventory, backup_dir=out, max_sessions=sessions, retries=0,
                               return_state=True)
    seconds = time.perf_counter() - started
    calls = counts["api"] - import_calls
    result = result_of(state)
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        shards = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id])))
        shard_ids = [s.id for s in shards]
        if shard_ids:
            runs += client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=shard_ids)))
    return {"seconds": seconds, "ok": len(result.ok_hosts), "task_runs": len(runs), "api_calls": calls,
            "shards": len(shard_ids)}


# -- the parent: lab, server, alternating runs, the table -------------------------------------------

def measure(variant: str, inventory: str, out: Path, sessions: int, env: dict[str, str]) -> dict[str, Any]:
    report = out.with_suffix(".json")
    proc = subprocess.Popen([sys.executable, __file__, "--child", variant, "--inventory", inventory,
                             "--out", str(out), "--max-sessions", str(sessions), "--report", str(report)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate()
    if proc.returncode != 0 or not report.exists():
        raise RuntimeError(f"{variant} run failed ({proc.returncode}): {stderr[-2000:]}")
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def start_stack(tmp: Path, shards: int) -> tuple[Any, Any, Any]:
    """A PostgreSQL-backed Prefect server; with ``shards``, the sharded deployment and two process workers."""
    sys.path.insert(0, str(ROOT))
    from tests.servers.postgres import PostgresServer
    from tests.support.stack import BIN, Cli, Server

    pg = PostgresServer().start()  # its own temporary directory, one the postgres user can reach
    server = Server(tmp / "server-home", pg.create_database("prefect"), PREFECT_UI_ENABLED="false").start()
    cli = Cli(server, tmp / "client-home", PREFECT_LOCAL_STORAGE_PATH=str(tmp / "results"),
              PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1", NORNFLOW_SHARD_POLL_SECONDS="1")
    if shards:
        spec = tmp / "prefect.yaml"
        spec.write_text(json.dumps({
            "name": "nornflow-bench", "prefect-version": "3.9.1", "build": None, "push": None,
            "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
            "deployments": [{"name": SHARDED.split("/")[1], "entrypoint": "flows/backup_configs.py:backup_configs",
                             "work_pool": {"name": "bench", "work_queue_name": "parents"},
                             "parameters": {"inventory": "", "retries": 0, "shards": shards,
                                            "shard_queue": "shards"}}]}))
        cli.run(BIN / "prefect", "work-pool", "create", "bench", "--type", "process")
        cli.run(BIN / "prefect", "work-queue", "create", "shards", "--pool", "bench")
        cli.run(BIN / "prefect", "deploy", "--all", "--prefect-file", str(spec))
        for i in range(2):
            cli.start_worker("bench", f"bench-worker-{i + 1}", queues=["shards"], limit=1)
    return pg, server, cli


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config_bench(size: int, lines: int, runs: int, sessions: int) -> None:
    """Backup and one-line deploy, big configs against toy ones, in one lab and one Prefect server."""
    from tests.support.stack import BIN

    with tempfile.TemporaryDirectory(prefix="nornflow-bench-") as tmpdir:
        tmp = Path(tmpdir)
        pg, server, cli = start_stack(tmp, 0)
        cli.run(BIN / "prefect", "variable", "set", "nornflow_lab", "true")  # auto_approve: a lab's server
        env = {**cli.env(), "NORNFLOW_HOME": str(ROOT)}
        started = time.perf_counter()
        lab = subprocess.Popen([sys.executable, __file__, "--lab", str(tmp / "biglab"), "--sizes", str(2 * size),
                                "--config-lines", str(lines)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        runs_of: dict[str, list[dict[str, Any]]] = {v: [] for v in CONFIG_VARIANTS}
        try:
            while not (tmp / "biglab" / "ready").exists():
                if lab.poll() is not None:
                    raise RuntimeError(f"the bench lab exited: {lab.stderr.read()[-2000:] if lab.stderr else ''}")
                time.sleep(0.2)
            inventory = (tmp / "biglab" / "ready").read_text()
            shape = json.loads((Path(inventory) / "bench-lab.json").read_text())["lines"]
            print(f"lab of {2 * size} up in {time.perf_counter() - started:.1f} s: {size} devices with "
                  f"{shape['big']}-line configs, {size} with {shape['toy']}-line ones", flush=True)
            for run in range(runs):
                for variant in CONFIG_VARIANTS:
                    lab_cpu = _cpu_seconds(lab.pid)
                    got = measure(variant, inventory, tmp / f"{variant}-{run}", sessions, env)
                    got["lab_cpu_s"] = _cpu_seconds(lab.pid) - lab_cpu
                    runs_of[variant].append(got)
                    print(f"run {run + 1} {variant:>10}: {got['seconds']:6.2f} s ({got['per_device_ms']:.0f} ms per "
                          f"device), {got['ok']}/{size} ok, peak {got['peak_mb']:.0f} MB, client CPU "
                          f"{got['cpu_s']:.1f} s, lab CPU {got['lab_cpu_s']:.1f} s [{got['state']}]", flush=True)
                    if got["ok"] != size:
                        print(f"   {got['message']}", flush=True)
        finally:
            lab.terminate()
            lab.wait(timeout=60)
            server.stop()
            pg.stop()
    med = {v: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mb", "ok", "cpu_s", "lab_cpu_s")}
           for v, rs in runs_of.items()}
    print(f"\n| {size} devices, medians of {runs} | toy ({shape['toy']} lines) | big ({shape['big']} lines) "
          f"| big / toy | peak MB toy / big | client CPU s toy / big | lab CPU s toy / big |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in ("backup", "deploy"):
        toy, big = med[f"{kind}-toy"], med[f"{kind}-big"]
        print(f"| {kind} ({'one line' if kind == 'deploy' else 'whole config'}) | {toy['seconds']:.2f} s "
              f"({1000 * toy['seconds'] / size:.0f} ms/device) | {big['seconds']:.2f} s "
              f"({1000 * big['seconds'] / size:.0f} ms/device) | {big['seconds'] / toy['seconds']:.2f}x "
              f"| {toy['peak_mb']:.0f} / {big['peak_mb']:.0f} | {toy['cpu_s']:.1f} / {big['cpu_s']:.1f} "
              f"| {toy['lab_cpu_s']:.1f} / {big['lab_cpu_s']:.1f} |")


#: Bastion variants: (name, through the bastion, async sessions).
BASTION_VARIANTS = (("direct", False, True), ("bastion", True, True),
                    ("threaded-direct", False, False), ("threaded-bastion", True, False))


def bastion_bench(size: int, runs: int, sessions: int) -> None:
    """backup_configs direct and through one OpenSSH bastion, both session paths, one lab and server."""
    import shutil

    import yaml

    from nornflow.lab import daemon
    from tests.servers.sshd import SSHServer

    with tempfile.TemporaryDirectory(prefix="nornflow-bench-") as tmpdir, SSHServer() as sshd:
        tmp = Path(tmpdir)
        pg, server, cli = start_stack(tmp, 0)
        env = {**cli.env(), "NORNFLOW_HOME": str(ROOT)}
        state = daemon.up(tmp / "lab", size=size)
        direct = Path(state["inventory"])
        through = tmp / "through-bastion"
        shutil.copytree(direct, through)
        defaults = yaml.safe_load((through / "defaults.yaml").read_text())
        defaults["data"] = {"ssh": {"jump_host": {"host": "127.0.0.1", "port": sshd.port, "username": sshd.user,
                                                  "private_key": sshd.private_key}}}
        (through / "defaults.yaml").write_text(yaml.safe_dump(defaults))
        got_of: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in BASTION_VARIANTS}
        try:
            for run in range(runs):
                for name, bastion, aio in BASTION_VARIANTS:
                    child_env = {**env, "NORNFLOW_ASYNC_SESSIONS": "1" if aio else "0"}
                    got = measure("flow", str(through if bastion else direct), tmp / f"{name}-{run}", sessions,
                                  child_env)
                    got_of[name].append(got)
                    print(f"run {run + 1} {name:>16}: {got['seconds']:6.2f} s, {got['ok']}/{size} ok, "
                          f"peak {got['peak_mb']:.0f} MB, client CPU {got['cpu_s']:.1f} s", flush=True)
        finally:
            daemon.down(tmp / "lab")
            server.stop()
            pg.stop()
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mb", "cpu_s", "ok")}
           for n, rs in got_of.items()}
    print(f"\n| backup_configs, {size} devices, medians of {runs} | direct | through one bastion | bastion / direct "
          f"| peak MB direct / bastion | client CPU s direct / bastion |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, prefix in (("async sessions (asyncssh, tunnel=)", ""), ("threaded (paramiko, direct-tcpip)",
                                                                        "threaded-")):
        d, b = med[f"{prefix}direct"], med[f"{prefix}bastion"]
        print(f"| {label} | {d['seconds']:.2f} s | {b['seconds']:.2f} s | {b['seconds'] / d['seconds']:.2f}x "
              f"| {d['peak_mb']:.0f} / {b['peak_mb']:.0f} | {d['cpu_s']:.1f} / {b['cpu_s']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-sessions", type=int, default=100)
    parser.add_argument("--inventory", help="an inventory of a running lab (default: start one per size)")
    parser.add_argument("--shards", type=int, default=2,
                        help="also run the flow as this many shards over two process workers (0: skip)")
    parser.add_argument("--config-lines", type=int, default=0,
                        help="big-config rows instead: backup and one-line deploy on devices holding about this "
                             "many config lines against toy ones, --sizes devices each (one size)")
    parser.add_argument("--bastion", action="store_true",
                        help="bastion rows instead: backup_configs direct and through one OpenSSH jump host, "
                             "--sizes devices (one size), both session paths")
    parser.add_argument("--child", choices=(*VARIANTS, "sharded", *CONFIG_VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--lab", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data = child(args.child, args.inventory, args.out, args.max_sessions)
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        data["peak_mb"] = usage.ru_maxrss / 1024
        data["cpu_s"] = usage.ru_utime + usage.ru_stime  # the whole child, imports included
        Path(args.report).write_text(json.dumps(data))
        return
    if args.lab:
        serve_lab(Path(args.lab), int(args.sizes), args.config_lines)
        return
    if args.bastion:
        sys.path.insert(0, str(ROOT))
        bastion_bench(int(args.sizes.split(",")[0]), args.runs, args.max_sessions)
        return
    if args.config_lines:
        sys.path.insert(0, str(ROOT))
        config_bench(int(args.sizes.split(",")[0]), args.config_lines, args.runs, args.max_sessions)
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="nornflow-bench-") as tmpdir:
        tmp = Path(tmpdir)
        pg, server, cli = start_stack(tmp, args.shards)
        env = {**cli.env(), "NORNFLOW_HOME": str(ROOT)}
        variants = (*VARIANTS, "sharded") if args.shards else VARIANTS
        try:
            for size in (int(s) for s in args.sizes.split(",")):
                lab_dir = tmp / f"lab-{size}"
                if args.inventory:
                    inventory = args.inventory
                else:
                    from nornflow.lab import daemon

                    started = time.perf_counter()
                    state = daemon.up(lab_dir, size=size)
                    print(f"lab of {size} up in {time.perf_counter() - started:.1f} s", flush=True)
                    inventory = str(state["inventory"])
                runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
                try:
                    for run in range(args.runs):
                        for variant in variants:
                            got = measure(variant, inventory, tmp / f"{variant}-{size}-{run}", args.max_sessions, env)
                            runs[variant].append(got)
                            print(f"size {size} run {run + 1} {variant:>12}: {got['seconds']:6.2f} s "
                                  f"{got['ok']}/{size} ok, peak {got['peak_mb']:.0f} MB"
                                  + (f", {got['task_runs']} task runs, {got['api_calls']} API calls"
                                     if "task_runs" in got else ""), flush=True)
                finally:
                    if not args.inventory:
                        daemon.down(lab_dir)
                rows.append((size, {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                                    for v, rs in runs.items()}))
        finally:
            cli.stop_worker()
            server.stop()
            pg.stop()
    print("\n| devices | plain Nornir | plain, closing early | flow | flow / plain | flow / closing early "
          "| peak MB plain / closing / flow | task runs | API calls | sharded (2 workers) | sharded / plain |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, m in rows:
        n, c, f = m["nornir"], m["nornir-close"], m["flow"]
        sh = m.get("sharded")
        sharded = (f"{sh['seconds']:.2f} s ({sh['task_runs']:.0f} task runs, parent {sh['peak_mb']:.0f} MB) "
                   f"| {sh['seconds'] / n['seconds']:.2f}x") if sh else "- | -"
        print(f"| {size} | {n['seconds']:.2f} s | {c['seconds']:.2f} s | {f['seconds']:.2f} s "
              f"| {f['seconds'] / n['seconds']:.2f}x | {f['seconds'] / c['seconds']:.2f}x "
              f"| {n['peak_mb']:.0f} / {c['peak_mb']:.0f} / {f['peak_mb']:.0f} "
              f"| {f['task_runs']:.0f} | {f['api_calls']:.0f} | {sharded} |")


if __name__ == "__main__":
    main()
