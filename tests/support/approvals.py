"""Drive a paused flow run the way the Prefect UI does: find it, read its plan, resume it with input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from tests.support.prefect_api import artifacts


class InThread:
    """Run ``call`` in a thread and keep what it returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.value = call()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 120) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the flow did not finish"
        if self.error is not None:
            raise self.error
        return self.value


def wait_for_paused(match: Callable[[Any], bool], timeout: float = 90) -> Any:
    """The paused flow run for which ``match(run)`` is true (the UI's 'Paused' list)."""
    deadline = time.monotonic() + timeout
    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            for run in client.read_flow_runs(flow_run_filter=paused):
                if match(run):
                    return run
        time.sleep(0.5)
    raise AssertionError("no paused flow run appeared")


def plan_hash_of(run: Any) -> str:
    """The plan hash as the approver reads it from the run's plan artifact."""
    plan = artifacts(run.id)["deploy-config-plan"].data
    return plan.split("**Plan hash:** `", 1)[1].split("`", 1)[0]


def answer(run: Any, **run_input: Any) -> None:
    resume_flow_run(run.id, run_input=run_input)
