"""Prefect event resource ids of NornFlow's objects: one spelling, used by every event we emit.

A device is ``nornflow.device.<host>``, so an automation or the Event Feed can follow one device
or all of them (``nornflow.device.*``); a flow is a related resource ``nornflow.flow.<name>``.
"""

from __future__ import annotations

DEVICE_PREFIX = "nornflow.device."
FLOW_PREFIX = "nornflow.flow."
FLOW_ROLE = "nornflow-flow"


def device_resource(host: str) -> dict[str, str]:
    """The event resource of one device: ``nornflow.device.<host>``."""
    return {"prefect.resource.id": f"{DEVICE_PREFIX}{host}", "prefect.resource.name": host}


def flow_resource(flow: str) -> dict[str, str]:
    """The related resource naming the flow, so events can be counted per flow by name."""
    return {"prefect.resource.id": f"{FLOW_PREFIX}{flow}", "prefect.resource.role": FLOW_ROLE,
            "prefect.resource.name": flow}
