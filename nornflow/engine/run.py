"""Run a Nornir task over selected hosts inside a Prefect flow, in batches.

Each batch of hosts is one Prefect task run with :class:`~nornflow.engine.runner.DeadlineRunner`
inside, so Prefect task runs grow with batches, not with hosts. Every batch of a run
shares one session gate (``max_sessions``), so the devices see the same concurrency as
plain Nornir with that many workers. The engine returns one :class:`HostRecord` per host;
a failed host never stops the others, and failed hosts can be retried alone.

Two small hooks in :mod:`nornflow.monitor` watch a run without slowing it: a progress
artifact updated per finished batch (from a background thread), and one
``nornflow.device.run.*`` event per host when the flow ends through :func:`final_state`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nornir.core import Nornir
from nornir.core.exceptions import NornirSubTaskError
from nornir.core.inventory import Host
from nornir.core.task import MultiResult, Result, Task
from prefect import State, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

from nornflow.deploy.locks import limit_names
from nornflow.engine import aio, patches
from nornflow.engine.explain import describe_error, is_auth_failure
from nornflow.engine.records import HostRecord, RunResult, parse_budget
from nornflow.engine.runner import DeadlineRunner, run_kwargs
from nornflow.inventory.load import HostFilter, inventory_problems, load_nornir
from nornflow.monitor import device_events, progress
from nornflow.secrets.redaction import install_log_filter, redact, redact_text

NornirTask = Callable[..., Any]

patches.install()  # flow runs end when their last line does (see nornflow.engine.patches)

#: Loggers that repeat, as tracebacks, what the engine already reports once per host.
_NOISY = ("nornir.core.task", "paramiko.transport")


def _quiet_noisy_loggers() -> None:
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _cause(exc: NornirSubTaskError) -> BaseException:
    """The exception a failed subtask raised (what the device or driver said), else ``exc``."""
    return next((r.exception for r in exc.result if r.exception is not None), exc)


def _open_session(task: Task) -> None:
    """The host's session opens the way :mod:`nornflow.ssh.threaded_connect` says (jump host, known
    hosts, keys from secrets, algorithms) when it takes the host over, when the task first asks for
    it; else nornir-scrapli opens it."""
    from nornflow.ssh.threaded_connect import open_session

    open_session(task.host, task.nornir.config)


def _run_inner(task: Task, inner: NornirTask, inner_kwargs: dict[str, Any], resolver: Any,
               logger: Any) -> MultiResult:
    """Run ``inner``; when the device rejects the credentials and a referenced secret has
    been rotated since it was read, re-read it and try once more."""
    try:
        _open_session(task)
        return task.run(task=inner, **inner_kwargs)
    except Exception as exc:
        cause = _cause(exc) if isinstance(exc, NornirSubTaskError) else exc
        if resolver is None or not is_auth_failure(cause):
            raise
        from nornflow.secrets import refresh_host_credentials

        if not refresh_host_credentials(task.host, resolver):
            raise
        task.host.close_connections()
        (logger or logging.getLogger(__name__)).info(
            "[%s] the device refused the cached credentials and the secret has changed since it was read: "
            "retrying with the new one", task.host.name,
        )
        _open_session(task)
        return task.run(task=inner, **inner_kwargs)


def _host_task(task: Task, inner: NornirTask, inner_kwargs: dict[str, Any],
               session_limits: tuple[str, ...] = (), resolver: Any = None, logger: Any = None) -> Result:
    """Run ``inner`` on one host, time it, and close the host's sessions when done.

    With ``session_limits``, the session holds one slot of each named Prefect global
    concurrency limit, so limits apply across every flow run on the server.
    """
    started = time.perf_counter()
    holding: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if session_limits:
        from prefect.concurrency.sync import concurrency

        holding = concurrency(limit_names(task.host, session_limits), occupy=1, strict=True)
    try:
        with holding:
            multi = _run_inner(task, inner, inner_kwargs, resolver, logger)
        first = multi[0]
        return Result(
            host=task.host, result=first.result, changed=any(r.changed for r in multi),
            duration=time.perf_counter() - started,
        )
    except NornirSubTaskError as exc:
        return Result(host=task.host, failed=True, exception=_cause(exc), duration=time.perf_counter() - started)
    except Exception as exc:  # a limit that does not exist, a lease that failed
        return Result(host=task.host, failed=True, exception=exc, duration=time.perf_counter() - started)
    finally:
        # A device that dropped the session makes scrapli's on_close raise; the record already says why.
        with contextlib.suppress(Exception):
            task.host.close_connections()


def _explain(exc: BaseException, host: Host) -> str:
    """One line for a failed host; an SSH-level error (:mod:`nornflow.ssh`) already is that line."""
    from nornflow.ssh.errors import SSHError

    if isinstance(exc, SSHError):
        return redact_text(str(exc))
    return describe_error(exc, host)


def _host_key_events(aggregated: Any, host_names: list[str], nr: Nornir) -> None:
    """A ``nornflow.device.hostkey-changed`` event per host that presented another key than recorded."""
    from nornflow.ssh.errors import HostKeyChanged
    from nornflow.ssh.hostkeys import emit_changed

    for name in host_names:
        multi = aggregated.get(name)
        exc = multi[0].exception if multi else None
        if isinstance(exc, HostKeyChanged):
            emit_changed(exc, nr.inventory.hosts[name].platform)


def _record(host: Host, multi: MultiResult | None, *, timed_out: float | None = None,
            error: str | None = None) -> HostRecord:
    base = {
        "host": host.name, "platform": host.platform,
        "site": host.get("site"), "role": host.get("role"),
    }
    if error is not None:
        return HostRecord(**base, status="failed", error=error)
    if multi is None:
        return HostRecord(
            **base, status="failed", duration=timed_out or 0.0,
            error=f"no answer within {timed_out:.0f} s (the device may be hung); the host was abandoned",
        )
    top = multi[0]
    duration = float(getattr(top, "duration", 0.0) or 0.0)
    if top.failed:
        exc = top.exception
        text = _explain(exc, host) if exc is not None else str(top.result)
        return HostRecord(**base, status="failed", duration=duration, error=redact_text(text))
    return HostRecord(
        **base, status="ok", changed=bool(top.changed), data=redact(top.result), duration=duration,
    )


@task(cache_policy=NO_CACHE, task_run_name="{label}")
def run_batch(
    nr: Nornir, host_names: list[str], inner: NornirTask, inner_kwargs: dict[str, Any],
    gate: threading.Semaphore, host_timeout: float, label: str, session_limits: tuple[str, ...] = (),
    resolver: Any = None, async_gate: aio.Gate | None = None,
) -> list[HostRecord]:
    """One Prefect task run: the task over a batch of hosts, one record per host."""
    logger = get_run_logger()
    twin = aio.twin_of(inner)
    aggregated: Any
    if twin is not None and async_gate is not None:  # a built-in read: each host a coroutine on the session loop
        hosts = [nr.inventory.hosts[n] for n in host_names]
        aggregated = aio.run_hosts(hosts, twin, inner_kwargs, gate=async_gate, host_timeout=host_timeout,
                                   session_limits=session_limits, resolver=resolver, logger=logger)
    else:
        names = set(host_names)
        batch = nr.filter(filter_func=lambda h: h.name in names)
        runner = DeadlineRunner(gate=gate, host_timeout=host_timeout)
        aggregated = batch.with_runner(runner).run(
            task=_host_task, name=label, inner=inner, inner_kwargs=inner_kwargs, session_limits=session_limits,
            resolver=resolver, logger=logger, **run_kwargs(),
        )
    _host_key_events(aggregated, host_names, nr)
    records = []
    for name in host_names:
        host = nr.inventory.hosts[name]
        record = _record(host, aggregated.get(name), timed_out=host_timeout)
        records.append(record)
        if record.ok:
            logger.info("[%s] ok in %.2f s%s", name, record.duration, " (changed)" if record.changed else "")
        else:
            logger.warning("[%s] FAILED: %s", name, record.error)
    return records


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


BatchDone = Callable[[list[HostRecord], int, int], None]


def _run_batches(
    nr: Nornir, names: list[str], inner: NornirTask, inner_kwargs: dict[str, Any], *,
    label: str, batch_size: int, gate: threading.Semaphore, host_timeout: float,
    session_limits: tuple[str, ...] = (), resolver: Any = None, on_batch: BatchDone | None = None,
    async_gate: aio.Gate | None = None, max_sessions: int = 100,
) -> tuple[list[HostRecord], int]:
    """Run every batch at once; ``on_batch(records, batches_done, batches)`` as each one finishes."""
    batches = list(_chunks(names, batch_size))
    # Enough batches in flight to keep every session slot busy (twice what the gate admits, so a
    # slow host never idles the gate), not all of them: each running batch is a thread with its
    # own Prefect task-run engine, and at 1,000 hosts 40 of them at once cost ~15 MB for nothing.
    in_flight = min(len(batches), 2 * -(-max_sessions // batch_size) + 1)
    runner: ThreadPoolTaskRunner[Any]
    with ThreadPoolTaskRunner(max_workers=in_flight) as runner:
        futures: list[Any] = [
            runner.submit(
                run_batch,  # type: ignore[arg-type]
                parameters={
                    "nr": nr, "host_names": chunk, "inner": inner, "inner_kwargs": inner_kwargs,
                    "gate": gate, "host_timeout": host_timeout, "session_limits": session_limits,
                    "resolver": resolver, "async_gate": async_gate,
                    "label": f"{label} batch {i + 1}/{len(batches)}",
                },
            )
            for i, chunk in enumerate(batches)
        ]
        position = {future: i for i, future in enumerate(futures)}
        finished: dict[int, list[HostRecord]] = {}
        for future in as_completed(futures):
            finished[position[future]] = future.result()
            if on_batch is not None:
                on_batch(finished[position[future]], len(finished), len(futures))
    return [r for i in range(len(futures)) for r in finished[i]], len(batches)


def run_task(
    task: NornirTask,
    *,
    nornir: Nornir | str | Path,
    hosts: HostFilter | dict[str, Any] | None = None,
    name: str | None = None,
    task_kwargs: dict[str, Any] | None = None,
    batch_size: int = 25,
    max_sessions: int = 100,
    retries: int = 0,
    retry_delay: float = 5.0,
    host_timeout: float = 120.0,
    prefailed: dict[str, str] | None = None,
    session_limits: Iterable[str] = (),
    resolver: Any = None,
) -> RunResult:
    """Run ``task`` (a Nornir task function) on the selected hosts; call inside a Prefect flow.

    ``prefailed`` maps host names to a reason they cannot run (an unresolvable secret, say):
    they are reported failed without being touched. Failed hosts are retried alone up to
    ``retries`` times, ``retry_delay`` seconds apart; the work of the others is kept.
    ``session_limits`` names Prefect global concurrency limits (templates such as
    ``"device:{host}"`` or ``"site:{site}"``, see :func:`limit_names`) that each host's
    session holds a slot of; the limits must exist on the server.

    Credentials in the inventory may be secret references (``secret:<block>/<name>:...``):
    they are resolved once per distinct reference through ``resolver`` (a fresh
    :class:`nornflow.secrets.Resolver` when None), registered for redaction, and a host
    whose secrets do not resolve fails alone with the reason.
    """
    if batch_size < 1 or max_sessions < 1:
        raise ValueError(f"batch_size ({batch_size}) and max_sessions ({max_sessions}) must be >= 1")
    _quiet_noisy_loggers()
    install_log_filter("prefect", "")
    nr = load_nornir(nornir) if isinstance(nornir, (str, Path)) else nornir
    label: str = name or str(getattr(task, "__name__", "task"))
    selected = HostFilter.coerce(hosts).select(nr)
    resolver, unresolved = _resolve_secrets(nr, resolver)
    # Hosts a source could not describe (a Nautobot device without an address, say) fail without a try.
    prefailed = {**inventory_problems(nr), **unresolved, **(prefailed or {})}
    started = time.perf_counter()
    inner_kwargs = task_kwargs or {}
    gate = threading.BoundedSemaphore(max_sessions)
    async_gate = aio.Gate(max_sessions)  # the same bound, for hosts whose task runs on the session loop
    blocked = {n: reason for n, reason in (prefailed or {}).items() if n in selected}
    runnable = [n for n in selected if n not in blocked]
    records: dict[str, HostRecord] = {
        n: _record(nr.inventory.hosts[n], None, error=redact_text(reason)) for n, reason in blocked.items()
    }
    batch_count = 0
    todo = runnable
    watch = progress.start(label, len(selected), records.values())

    def on_batch(got: list[HostRecord], done: int, of: int) -> None:
        watch.batch_done(got)
        if of > 1 and watch.counts is not None:
            get_run_logger().info("progress: %s", watch.counts.describe())

    try:
        for attempt in range(1, retries + 2):
            if not todo:
                break
            if attempt > 1:
                get_run_logger().info(
                    "retrying %d failed host(s) in %.0f s (attempt %d/%d): %s",
                    len(todo), retry_delay, attempt, retries + 1, ", ".join(todo),
                )
                watch.retrying(todo)
                time.sleep(retry_delay)
            step = label if attempt == 1 else f"{label} retry {attempt - 1}"
            got, count = _run_batches(
                nr, todo, task, inner_kwargs, label=step, batch_size=batch_size, gate=gate,
                host_timeout=host_timeout, session_limits=tuple(session_limits), resolver=resolver,
                on_batch=on_batch, async_gate=async_gate, max_sessions=max_sessions,
            )
            batch_count += count
            for record in got:
                record.attempts = attempt
                records[record.host] = record
            todo = [r.host for r in got if r.failed]
    finally:
        watch.finish(records.values())
    return RunResult(
        name=label, records=[records[n] for n in selected],
        duration=time.perf_counter() - started, batches=batch_count,
    )


def _resolve_secrets(nr: Nornir, resolver: Any) -> tuple[Any, dict[str, str]]:
    """Resolve secret references in the inventory in place; hosts that cannot resolve fail alone."""
    from nornflow.secrets import Resolver, resolve_inventory

    resolver = resolver or Resolver()
    return resolver, resolve_inventory(nr.inventory, resolver)


def result_of(state: State) -> RunResult:
    """The :class:`RunResult` a flow returned through :func:`final_state`, whatever the state.

    A flow that raised before it had a result (a filter that matches no host, a missing
    inventory) has no RunResult: its exception is raised again here, for the caller to report.
    """
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if not isinstance(result, RunResult):
        raise TypeError(f"flow run state {state.name!r} carries {type(result).__name__}, not a RunResult: {result}")
    return result


def final_state(result: RunResult, failure_budget: int | float | str | None = None, *,
                emit_events: bool = True, note: str = "") -> State:
    """The flow's honest final state: Failed beyond the budget, Completed otherwise, naming failures.

    Inside a flow run it also emits each host's ``nornflow.device.run.<outcome>`` event
    (:func:`nornflow.monitor.device_events.emit_run_events`): one per device per flow run;
    ``emit_events=False`` where they were emitted elsewhere (by shards). ``note`` follows the summary.
    """
    if emit_events:
        device_events.emit_run_events(result)
    allowed = parse_budget(failure_budget, len(result.records))
    message = result.summary() + note
    if len(result.failed_hosts) > allowed:
        return Failed(message=f"{message} (failure budget {allowed} exceeded)", data=result)
    if result.failed_hosts:
        message += f" (within failure budget {allowed})"
    return Completed(message=message, data=result)
