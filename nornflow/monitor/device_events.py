"""One Prefect event per device per run: the Event Feed filtered on a device is its history.

Every engine flow ends through :func:`nornflow.engine.final_state`, which calls
:func:`emit_run_events` with the run's final records (after the flow has set ``changed``,
e.g. a backup that found a new config), so each device gets exactly one event per flow
run; a plan's task steps emit theirs at the end of the step. A flow of your own that
does not end through ``final_state`` calls :func:`emit_run_events` itself.

- event: ``nornflow.device.run.<outcome>``: ``ok``, ``changed`` (ok, and something
  changed: a new backup, an applied config), ``failed`` or ``skipped``. The outcome is in
  the name so that the API can count a fleet's successes per device without reading
  every event (:mod:`nornflow.monitor.history`), and automations can match failures only.
- resource: ``nornflow.device.<host>`` (the one ``nornflow.config.events`` uses).
- related: ``nornflow.flow.<flow name>`` (role ``nornflow-flow``), plus the flow run, flow,
  deployment, work pool and tags that Prefect's event worker adds from the run context.
- payload: host, flow, task, outcome, changed, duration, attempts, error (redacted, cut to
  500 characters), flow_run_id, flow_run_name, deployment_id, platform, site, role.

``emit_event`` only queues: Prefect's event worker sends the events from its own thread.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from nornflow.monitor import enabled
from nornflow.records import HostRecord, RunResult
from nornflow.redaction import redact, redact_text
from nornflow.resources import device_resource, flow_resource

log = logging.getLogger(__name__)

RUN_EVENT = "nornflow.device.run"
OUTCOMES = ("ok", "changed", "failed", "skipped")
#: Events that count as a good run of a device.
GOOD = (f"{RUN_EVENT}.ok", f"{RUN_EVENT}.changed")
FAILED = f"{RUN_EVENT}.failed"
CHANGED = f"{RUN_EVENT}.changed"
MAX_ERROR = 500


def outcome(record: HostRecord) -> str:
    if record.status == "ok":
        return "changed" if record.changed else "ok"
    return record.status


def payload(record: HostRecord, *, flow: str, task: str, run: dict[str, str | None]) -> dict[str, Any]:
    """The event payload of one host's record (redacted)."""
    error = redact_text(record.error) if record.error else None  # before cutting: never half a secret
    if error and len(error) > MAX_ERROR:
        error = error[: MAX_ERROR - 1] + "…"
    body: dict[str, Any] = {
        "host": record.host, "flow": flow, "task": task, "outcome": outcome(record),
        "changed": bool(record.changed), "duration": round(record.duration, 3), "attempts": record.attempts,
        "error": error, "platform": record.platform, "site": record.site, "role": record.role, **run,
    }
    return dict(redact(body))


def _run_context() -> tuple[str, dict[str, str | None]] | None:
    """The flow name and run fields of the current flow run, or None outside one."""
    with contextlib.suppress(Exception):
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        if ctx is not None and ctx.flow_run is not None:
            run = ctx.flow_run
            flow = ctx.flow.name if ctx.flow is not None else run.name
            return flow, {"flow_run_id": str(run.id), "flow_run_name": run.name,
                          "deployment_id": str(run.deployment_id) if run.deployment_id else None}
    return None


def prepare() -> None:
    """Start Prefect's events worker and its connection to the server now (from a background thread
    at the start of a run), so that the run's end, where its events are emitted, does not pay for it."""
    if not enabled("events"):
        return
    with contextlib.suppress(Exception):
        from prefect.events.worker import EventsWorker

        EventsWorker.instance()


def emit_run_events(result: RunResult, *, flow: str | None = None) -> int:
    """Emit one ``nornflow.device.run.<outcome>`` event per record; returns how many were queued.

    Nothing is emitted outside a flow run or with ``NORNFLOW_MONITOR`` excluding ``events``.
    """
    if not enabled("events") or not result.records:
        return 0
    context = _run_context()
    if context is None:
        return 0
    flow_name, run = context
    flow_name = flow or flow_name
    from prefect.events import emit_event

    related = [flow_resource(flow_name)]
    sent = 0
    for record in result.records:
        event = emit_event(
            event=f"{RUN_EVENT}.{outcome(record)}", resource=device_resource(record.host), related=related,
            payload=payload(record, flow=flow_name, task=result.name, run=run),
        )
        sent += event is not None
    if sent < len(result.records):
        log.debug("%d of %d device events were not queued (no events client)", len(result.records) - sent,
                  len(result.records))
    return sent
