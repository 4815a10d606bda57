"""Two fixes to Prefect that every flow run pays for otherwise (installed by :mod:`nornflow.engine.run`).

1. Prefect 3.9's synchronous flow engine sends flow-run heartbeats (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``,
180 s by default) from a thread that sleeps in one-second steps, and joins that thread when
the flow ends: every flow run, subflows included, waits up to a second after its last line
(``prefect/flow_engine.py`` ``_send_heartbeats``; the join was added in PrefectHQ/prefect#19641).
Here the thread waits on its stop event instead, so it ends the moment the flow does; the
heartbeats themselves (what marks a dead worker's run as crashed) are sent exactly as before.

2. ``Flow.serialize_parameters`` imports FastAPI (``jsonable_encoder``) when a flow run is created:
0.1-0.25 s and ~10 MB in a fresh worker process, for parameters that are already JSON (strings,
numbers, lists, mappings: every NornFlow flow's). Those are passed through as they are; any other
value still goes through Prefect's own encoder.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
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


_JSON_SCALARS = (str, int, float, bool, type(None))


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """True when ``value`` is JSON as it is: scalars, lists of them, str-keyed dicts (not too deep)."""
    if type(value) in _JSON_SCALARS:
        return True
    if depth > 32:
        return False
    if type(value) is list:
        return all(is_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain_json(v, depth + 1) for k, v in value.items())
    return False


def _serialize_parameters(original: Any) -> Any:
    def serialize_parameters(self: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        if not (self.ismethod or self.isclassmethod) and all(is_plain_json(v) for v in parameters.values()):
            return copy.deepcopy(parameters)  # what the encoder returns: a new structure, same values
        return original(self, parameters)  # type: ignore[no-any-return]

    serialize_parameters.__wrapped__ = original  # type: ignore[attr-defined]
    return serialize_parameters


def install() -> None:
    """Install both fixes in Prefect (idempotent; each skipped if Prefect changed shape)."""
    if _INSTALLED["done"]:
        return
    from prefect import flow_engine
    from prefect.flows import Flow

    serialize = getattr(Flow, "serialize_parameters", None)
    if serialize is not None and not hasattr(serialize, "__wrapped__"):
        Flow.serialize_parameters = _serialize_parameters(serialize)  # type: ignore[method-assign]

    original = getattr(flow_engine, "_send_heartbeats", None)
    needed = ("_build_heartbeat_event_template", "_emit_flow_run_heartbeat", "heartbeat_seconds")
    engine_class = getattr(flow_engine, "FlowRunEngine", None)
    if original is None or engine_class is None or not all(hasattr(engine_class, n) for n in needed):
        log.debug("prefect.flow_engine has no _send_heartbeats of the known shape; not patched")
        return
    flow_engine._send_heartbeats = send_heartbeats  # type: ignore[assignment]
    _INSTALLED["done"] = True
