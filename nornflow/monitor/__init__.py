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

import os

FEATURES = ("progress", "events")


def enabled(feature: str) -> bool:
    """Whether the engine hook ``feature`` (``progress`` or ``events``) is on (``NORNFLOW_MONITOR``)."""
    value = os.environ.get("NORNFLOW_MONITOR", "on").strip().lower()
    if value in ("", "on", "1", "true", "yes", "all"):
        return True
    if value in ("off", "0", "false", "no", "none"):
        return False
    return feature in {part.strip() for part in value.split(",")}
