"""Monitoring a network team reads at a glance, built on what Prefect already has.

A reader follows it in this order: :mod:`.progress` (a live progress artifact per engine
run), :mod:`.device_events` (one ``nornflow.device.run.*`` event per device per run),
:mod:`.history` (what the Prefect API knows about past runs and devices),
:mod:`.report` (the fleet report's arithmetic, no I/O), :mod:`.publish` (its artifacts),
:mod:`.svg` and :mod:`.charts` (pictures the Prefect UI really draws: SVG as a data-URL
image), :mod:`.health` and :mod:`.probes` (the stack's health checks).

Nothing heavy is imported here: the engine imports :mod:`.progress` and
:mod:`.device_events` only. Arrows point down: this package may import the engine,
records and the inventory; nothing below it imports flows or the CLI.

``NORNFLOW_MONITOR`` switches the engine's hooks: ``on`` (the default), ``off``, or a
comma list of ``progress`` and ``events``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable

FEATURES = ("progress", "events")


def enabled(feature: str) -> bool:
    """Whether the engine hook ``feature`` (``progress`` or ``events``) is on (``NORNFLOW_MONITOR``)."""
    value = os.environ.get("NORNFLOW_MONITOR", "on").strip().lower()
    if value in ("", "on", "1", "true", "yes", "all"):
        return True
    if value in ("off", "0", "false", "no", "none"):
        return False
    return feature in {part.strip() for part in value.split(",")}


_exit_lock = threading.Lock()


def flush_before_threads_stop(flush: Callable[[], object]) -> None:
    """Run ``flush`` when the interpreter stops its threads, before Prefect's events worker drains.

    A script whose last line is a flow exits while the last progress update and the device
    events are still being sent. An ``atexit`` hook comes too late for them: Python runs the
    threading exit hooks first, Prefect's events worker drains and stops in one of them, and
    the ``prefect.artifact.updated`` event of a later update then fails ("can't register atexit
    after shutdown"). Threading exit hooks run last-in first-out, so ``flush`` is moved to the
    end of their list each time this is called (at the end of every run, when Prefect's worker
    has registered its own). ``atexit`` stays as the fallback where CPython lacks the hook.
    """
    register = getattr(threading, "_register_atexit", None)
    hooks = getattr(threading, "_threading_atexits", None)
    with _exit_lock:
        atexit.unregister(flush)
        atexit.register(flush)
        if register is None or not isinstance(hooks, list):
            return
        hooks[:] = [h for h in hooks if getattr(h, "func", None) is not flush]
        with contextlib.suppress(RuntimeError):  # already shutting down: the atexit hook still runs
            register(flush)
