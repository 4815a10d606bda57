"""The engine over real SSH against the lab, under the Prefect test server."""

from __future__ import annotations

import socket
import threading

import pytest
import yaml
from prefect import flow

from nornflow.engine.run import final_state, run_task
from nornflow.exceptions import HostSelectionError
from nornflow.tasks import get_running_config, show_commands
from tests.support.prefect_api import flow_run_id, logs, task_runs


@flow
def engine_flow(inventory: str, hosts=None, budget=None, **options):
    result = run_task(get_running_config, nornir=inventory, hosts=hosts, name="cfg", **options)
    return final_state(result, budget)


def _set_host(lab, host: str, **fields) -> None:
    path = lab.inventory_dir / "hosts.yaml"
    hosts = yaml.safe_load(path.read_text())
    hosts[host].update(fields)
    path.write_text(yaml.safe_dump(hosts))


@pytest.fixture(scope="module")
def lab6(tmp_path_factory):
    from nornflow.lab import Lab

    with Lab(size=6, directory=tmp_path_factory.mktemp("lab6")) as lab:
        yield lab


def test_batches_are_task_runs_and_every_host_has_a_record(lab6):
    state = engine_flow(str(lab6.inventory_dir), batch_size=2, max_sessions=2, return_state=True)
    result = state.result()
    assert state.is_completed()
    assert [r.status for r in result.records] == ["ok"] * 6
    assert result.batches == 3
    assert all("hostname" in r.data or "device:" in r.data for r in result.records)
    runs = task_runs(flow_run_id(state))
    assert sorted(r.name for r in runs) == [f"cfg batch {i}/3" for i in (1, 2, 3)]
    messages = logs(flow_run_id(state))
    for host in lab6.devices:
        assert any(m.startswith(f"[{host}] ok in") for m in messages), host


def test_session_limit_bounds_concurrency_across_batches(lab6):
    live, peak, lock = [0], [0], threading.Lock()

    def counting(task):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        try:
            return get_running_config(task)
        finally:
            with lock:
                live[0] -= 1

    @flow
    def limited(inventory: str):
        return run_task(counting, nornir=inventory, batch_size=1, max_sessions=2)

    result = limited(str(lab6.inventory_dir))
    assert len(result.ok_hosts) == 6
    assert result.batches == 6
    assert peak[0] == 2


def test_unreachable_host_fails_alone_and_state_names_it(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=4, directory=tmp_path) as lab:
        lab.stop_device("ams-spine-01")
        state = engine_flow(str(lab.inventory_dir), return_state=True)
        result = state.result(raise_on_failure=False)
        assert state.is_failed()
        assert "ams-spine-01" in state.message
        assert result.failed_hosts == ["ams-spine-01"]
        assert "connection refused" in result["ams-spine-01"].error
        assert len(result.ok_hosts) == 3
        within = engine_flow(str(lab.inventory_dir), budget=1, return_state=True)
        assert within.is_completed()
        assert "within failure budget 1" in within.message and "ams-spine-01" in within.message


def test_wrong_password_fails_that_host_with_the_reason(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=3, directory=tmp_path) as lab:
        _set_host(lab, "nyc-spine-01", password="not-the-password")
        result = engine_flow(str(lab.inventory_dir), return_state=True).result(raise_on_failure=False)
        assert result.failed_hosts == ["nyc-spine-01"]
        assert result["nyc-spine-01"].error.startswith("authentication failed")
        assert "not-the-password" not in result.model_dump_json()


def test_hung_device_is_abandoned_after_host_timeout(tmp_path):
    """A device that accepts TCP and never speaks SSH: the host fails, the run returns."""
    from nornflow.lab import Lab

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        with Lab(size=3, directory=tmp_path) as lab:
            _set_host(lab, "fra-spine-01", port=silent.getsockname()[1])
            result = engine_flow(str(lab.inventory_dir), host_timeout=4, return_state=True).result(
                raise_on_failure=False)
            assert result.failed_hosts == ["fra-spine-01"]
            assert "no answer within 4 s" in result["fra-spine-01"].error
            assert len(result.ok_hosts) == 2
    finally:
        silent.close()


def test_failed_hosts_are_retried_alone(tmp_path):
    from nornflow.lab import Lab

    with Lab(size=3, directory=tmp_path) as lab:
        lab.stop_device("ams-spine-01")
        timer = threading.Timer(1.0, lab.start_device, args=("ams-spine-01",))
        timer.start()
        state = engine_flow(str(lab.inventory_dir), retries=2, retry_delay=2.0, return_state=True)
        timer.join()
        result = state.result()
        assert state.is_completed()
        assert result["ams-spine-01"].attempts == 2
        assert result["fra-spine-01"].attempts == 1
        names = sorted(r.name for r in task_runs(flow_run_id(state)))
        assert names == ["cfg batch 1/1", "cfg retry 1 batch 1/1"]


def test_rejected_command_fails_the_host_naming_the_command(lab6):
    @flow
    def bad(inventory: str):
        return run_task(show_commands, nornir=inventory, hosts={"names": ["fra-spine-01"]},
                        task_kwargs={"commands": ["show clock", "show frobnicator"]})

    result = bad(str(lab6.inventory_dir))
    assert result.failed_hosts == ["fra-spine-01"]
    assert "rejected 'show frobnicator'" in result["fra-spine-01"].error


def test_filter_matching_nothing_raises(lab6):
    with pytest.raises(HostSelectionError, match="matches no host"):
        engine_flow(str(lab6.inventory_dir), hosts={"sites": ["mars"]})


def test_built_in_reads_take_the_async_session_loop_and_read_what_threads_read(lab6, monkeypatch):
    """get_running_config has an async twin: every host runs on the shared asyncssh loop, none in a
    per-host thread, and the configs are those the threaded (paramiko) path reads."""
    from nornflow.engine import aio

    used: list[list[str]] = []
    real = aio.run_hosts

    def spy(hosts, *args, **kwargs):
        used.append([h.name for h in hosts])
        assert not [t for t in threading.enumerate() if t.name.startswith("nornflow:")]  # no per-host threads
        return real(hosts, *args, **kwargs)

    monkeypatch.setattr(aio, "run_hosts", spy)
    on_loop = engine_flow(str(lab6.inventory_dir), batch_size=4, return_state=True).result()
    assert sorted(n for batch in used for n in batch) == sorted(lab6.devices)
    monkeypatch.setenv("NORNFLOW_ASYNC_SESSIONS", "0")
    used.clear()
    threaded = engine_flow(str(lab6.inventory_dir), batch_size=4, return_state=True).result()
    assert used == []  # the switch sends every host through the threaded path
    assert {r.host: r.data for r in on_loop.records} == {r.host: r.data for r in threaded.records}
    assert all(r.ok for r in on_loop.records)


@pytest.mark.parametrize("async_sessions", ["1", "0"])
def test_both_session_paths_fail_a_bad_host_alone(tmp_path, monkeypatch, async_sessions):
    from nornflow.lab import Lab

    monkeypatch.setenv("NORNFLOW_ASYNC_SESSIONS", async_sessions)
    with Lab(size=3, directory=tmp_path) as lab:
        lab.stop_device("ams-spine-01")
        _set_host(lab, "nyc-spine-01", password="not-the-password")
        result = engine_flow(str(lab.inventory_dir), return_state=True).result(raise_on_failure=False)
        assert result.failed_hosts == ["ams-spine-01", "nyc-spine-01"]
        assert "connection refused" in result["ams-spine-01"].error
        assert result["nyc-spine-01"].error.startswith("authentication failed")
        assert result.ok_hosts == ["fra-spine-01"]
