"""One Prefect event per device per run: the Event Feed filtered on a device is its history.

Every engine flow ends through :func:`nornflow.engine.run.final_state`, which calls
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

Inside a synchronous flow run the events go to the server in one ``POST /events`` per 250
devices, over the flow run's own API client, from a thread: the flow returns without waiting
(:func:`flush` waits, and runs at process exit). Prefect's ``emit_event`` would build, enrich and
send them one websocket message at a time on its events thread, which cost a 100-device
backup ~12% of its time at the end of the run. The related resources are the ones Prefect's
events worker adds, read from the run context (flow run, flow, deployment, work queue, tags);
anywhere else (an async flow, a failed POST) ``emit_event`` queues them as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from typing import Any

from nornflow.engine.records import HostRecord, RunResult
from nornflow.monitor import enabled, flush_before_threads_stop
from nornflow.monitor.resources import device_resource, flow_resource
from nornflow.secrets.redaction import redact, redact_text

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


def emit_run_events(result: RunResult, *, flow: str | None = None) -> int:
    """Emit one ``nornflow.device.run.<outcome>`` event per record; returns how many were sent or queued.

    Nothing is emitted outside a flow run or with ``NORNFLOW_MONITOR`` excluding ``events``.
    """
    if not enabled("events") or not result.records:
        return 0
    context = _run_context()
    if context is None:
        return 0
    flow_name, run = context
    flow_name = flow or flow_name
    events = [(f"{RUN_EVENT}.{outcome(record)}", device_resource(record.host),
               payload(record, flow=flow_name, task=result.name, run=run)) for record in result.records]
    related = [flow_resource(flow_name)]
    if _post(events, related):
        return len(events)
    from prefect.events import emit_event

    sent = 0
    for name, resource, body in events:
        sent += emit_event(event=name, resource=resource, related=related, payload=body) is not None
    if sent < len(events):
        log.debug("%d of %d device events were not queued (no events client)", len(events) - sent, len(events))
    return sent


BULK = 250  # events per POST /events (a device event is under 1 KB)
FINAL_STATE_WAIT = 5.0  # seconds a hand-over waits for its run's final state before sending anyway


def _run_related() -> list[dict[str, str]]:
    """What Prefect's events worker relates a run's events to, from the run context (no API read)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return []
    run = ctx.flow_run
    related = [{"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.role": "flow-run",
                "prefect.resource.name": run.name}]
    if run.flow_id:
        related.append({"prefect.resource.id": f"prefect.flow.{run.flow_id}", "prefect.resource.role": "flow",
                        **({"prefect.resource.name": ctx.flow.name} if ctx.flow is not None else {})})
    if run.deployment_id:
        related.append({"prefect.resource.id": f"prefect.deployment.{run.deployment_id}",
                        "prefect.resource.role": "deployment"})
    if run.work_queue_id:
        related.append({"prefect.resource.id": f"prefect.work-queue.{run.work_queue_id}",
                        "prefect.resource.role": "work-queue",
                        **({"prefect.resource.name": run.work_queue_name} if run.work_queue_name else {})})
    related += [{"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
                for tag in sorted(run.tags or ())]
    return related


def _post(events: list[tuple[str, dict[str, str], dict[str, Any]]], related: list[dict[str, str]]) -> bool:
    """Hand ``events`` to a thread that sends them with the flow run's own client, in bulk; False when
    that cannot be done here (then the caller queues them through ``emit_event``).

    The flow returns without waiting for the server to take them, as with Prefect's own events;
    they are sent once the run's final state is recorded (or after ``FINAL_STATE_WAIT``). The
    client is entered here (Prefect closes it when its last user leaves, so the flow's end does
    not cut the send short), and :func:`flush`, also run at process exit, waits for the sends.
    """
    try:
        import uuid
        from datetime import UTC, datetime

        from prefect.client.orchestration import SyncPrefectClient
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        client = getattr(ctx, "client", None)
        if not isinstance(client, SyncPrefectClient):
            return False
        occurred = datetime.now(UTC).isoformat()
        related = [*related, *_run_related()]
        body: list[dict[str, Any]] = [
            {"id": str(uuid.uuid4()), "occurred": occurred, "event": name, "resource": resource,
             "related": related, "payload": payload} for name, resource, payload in events]
        run = ctx.flow_run if ctx is not None else None
        client.__enter__()
    except Exception as exc:
        log.debug("bulk device events not possible (%s); sending them through emit_event", type(exc).__name__)
        return False

    sent = [0]  # events the server took (a failed chunk falls back from there, nothing twice)

    def send() -> None:
        try:
            # After the run's final state: on two cores the server storing 100 events made the flow's
            # own last call (its final state) wait ~80 ms; events emitted mid-run wait at most 5 s.
            deadline = time.monotonic() + FINAL_STATE_WAIT
            while time.monotonic() < deadline and not (run is not None and run.state is not None
                                                       and run.state.is_final()):
                time.sleep(0.01)
            for start in range(0, len(body), BULK):
                client._client.post("/events", json=body[start:start + BULK]).raise_for_status()
                sent[0] = start + BULK
        except Exception as exc:  # the rest one at a time through Prefect's events worker
            log.debug("bulk device events failed (%s); sending them through emit_event", type(exc).__name__)
            from prefect.events import emit_event

            for name, resource, payload in events[sent[0]:]:
                emit_event(event=name, resource=resource, related=related, payload=payload)
        finally:
            client.__exit__(None, None, None)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(send,), daemon=True,
                              name="nornflow-device-events")
    with _sending_lock:
        _sending[:] = [t for t in _sending if t.is_alive()]
        _sending.append(thread)
    from nornflow.monitor import progress

    flush_before_threads_stop(progress.flush)  # waits for these events too, before Prefect's worker stops
    thread.start()
    return True


_sending: list[threading.Thread] = []
_sending_lock = threading.Lock()


def flush(timeout: float = 10.0) -> bool:
    """Wait (at most ``timeout`` seconds in all) until the device events handed over are sent."""
    deadline = time.monotonic() + timeout
    with _sending_lock:
        pending = list(_sending)
    for thread in pending:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in pending)
