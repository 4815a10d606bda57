"""The progress artifact against the real server: the end of a run does not wait for it, a sharded
parent shows the sum of its shards' progress, and the final counts always arrive."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect import flow, runtime

from nornflow.engine.records import HostRecord
from nornflow.monitor import progress
from tests.support.prefect_api import artifacts, flow_run_id


def records(prefix: str, ok: int, failed: int) -> list[HostRecord]:
    return ([HostRecord(host=f"{prefix}-{i}", status="ok") for i in range(ok)]
            + [HostRecord(host=f"{prefix}-f{i}", status="failed", error="refused") for i in range(failed)])


@flow(name="mon-progress-shard")
def shard(prefix: str, ok: int, failed: int) -> float:
    """A shard: its own progress artifact, one batch; returns how long finish() took."""
    watch = progress.start("shard", ok + failed)
    watch.batch_done(records(prefix, ok, failed))
    started = time.perf_counter()
    watch.finish()
    return time.perf_counter() - started


@flow(name="mon-progress-parent")
def parent(shard_runs: list[str]) -> dict[str, Any]:
    watch = progress.follow("parent", 6, [UUID(i) for i in shard_runs], every=0.2)
    assert isinstance(watch, progress.RunProgress)
    me = UUID(runtime.flow_run.id)
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline:   # the poller summed the shards and the publisher sent it
        seen = str(getattr(artifacts(me).get("parent-progress"), "description", ""))
        if "6 of 6" in seen:
            break
        time.sleep(0.3)
    watch.finish([*records("a", 3, 0), *records("b", 2, 1)])
    return {"while_running": seen}


def test_finish_hands_the_last_update_over_and_flush_delivers_it():
    states = [shard("a", 3, 0, return_state=True), shard("b", 2, 1, return_state=True)]
    assert all(s.result() < 0.05 for s in states)                 # finish() did not wait for the API
    assert progress.flush()
    descriptions = [artifacts(flow_run_id(s))["shard-progress"].description for s in states]
    assert descriptions == ["shard: 3 of 3 hosts (100%): 3 ok, 0 failed (finished)",
                            "shard: 3 of 3 hosts (100%): 2 ok, 1 failed (finished)"]

    state = parent([str(flow_run_id(s)) for s in states], return_state=True)
    assert state.result()["while_running"] == "parent: 6 of 6 hosts (100%): 5 ok, 1 failed"
    assert progress.flush()
    final = artifacts(flow_run_id(state))["parent-progress"]
    assert final.data == 100 and final.description == "parent: 6 of 6 hosts (100%): 5 ok, 1 failed (finished)"
