"""Prefect events about devices: the resource is ``nornflow.device.<host>``, so automations
can trigger on one device or on all (``nornflow.device.*``). The per-run history events
(``nornflow.device.run.*``) come from :mod:`nornflow.monitor.device_events`."""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

from nornflow.monitor.resources import device_resource
from nornflow.secrets.redaction import redact

APPLIED = "nornflow.config.applied"
ROLLED_BACK = "nornflow.config.rolled-back"
ROLLBACK_FAILED = "nornflow.config.rollback-failed"
PLAN_REJECTED = "nornflow.plan.rejected"
DRIFT = "nornflow.compliance.drift"
COMPLIANT = "nornflow.compliance.compliant"

__all__ = ["APPLIED", "COMPLIANT", "DRIFT", "PLAN_REJECTED", "ROLLBACK_FAILED", "ROLLED_BACK",
           "device_resource", "emit_device_event"]


def emit_device_event(event: str, host: str, **payload: Any) -> None:
    """Emit ``event`` about ``host``; the payload always carries the host name as well."""
    emit_event(event=event, resource=device_resource(host), payload=redact({"host": host, **payload}))
