"""One fix to Prefect that every flow run pays for otherwise (installed by :mod:`nornflow.engine`).

Prefect 3.9's synchronous flow engine sends flow-run heartbeats (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``,
180 s by default) from a thread that sleeps in one-second steps, and joins that thread when
the flow ends: every flow run, subflows included, waits up to a second after its last line
(``prefect/flow_engine.py`` ``_send_heartbeats``; the join was added in PrefectHQ/prefect#19641).
Here the thread waits on its stop event instead, so it ends the moment the flow does; the
heartbeats themselves (what marks a dead worker's run as crashed) are sent exactly as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Generator
from typing import Any

log = logging.getLogger(__name__)
_INSTALLED = {"done": False}


@contextlib.contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Generator[None, None, None]:
    """Prefect's ``_send_heartbeats`` with an interruptible wait between heartbeats."""
    from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL

    seconds = engine.heartbeat_seconds
    if seconds is None:
        yield
        return
    seconds = max(seconds, MINIMUM_HEARTBEAT_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            run = engine.flow_run
            if run is not None and run.state is not None and run.state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            stop.wait(seconds)

    # The thread sees this context's settings (the API URL), as in Prefect's own version.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True,
                              name="nornflow-flow-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        if join_on_exit:
            thread.join(timeout=2)


def install() -> None:
    """Use :func:`send_heartbeats` in Prefect's flow engine (idempotent; skipped if Prefect changed shape)."""
    if _INSTALLED["done"]:
        return
    from prefect import flow_engine

    original = getattr(flow_engine, "_send_heartbeats", None)
    needed = ("_build_heartbeat_event_template", "_emit_flow_run_heartbeat", "heartbeat_seconds")
    engine_class = getattr(flow_engine, "FlowRunEngine", None)
    if original is None or engine_class is None or not all(hasattr(engine_class, n) for n in needed):
        log.debug("prefect.flow_engine has no _send_heartbeats of the known shape; not patched")
        return
    flow_engine._send_heartbeats = send_heartbeats  # type: ignore[assignment]
    _INSTALLED["done"] = True
