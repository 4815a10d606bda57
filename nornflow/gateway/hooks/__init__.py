"""Incoming webhooks: ``/w/<workspace>/hooks/<name>`` turns a signed delivery into a Prefect event.

:mod:`.config` (a hook's settings, read by the gateway's settings), :mod:`.signatures` (GitHub,
GitLab, Nautobot, bearer), :mod:`.mapping` (the sandboxed template and Prefect's Event model),
:mod:`.replay` (what was accepted already), :mod:`.receiver` (the route, composed by the gateway's
app). The names below are imported on first use, so the settings can read :mod:`.config` without
pulling in the receiver (which reads the route policy, which reads the settings).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nornflow.gateway.hooks.config import HookSettings
    from nornflow.gateway.hooks.receiver import HookReceiver, hook_name
    from nornflow.gateway.hooks.replay import SeenStore

__all__ = ["HookReceiver", "HookSettings", "SeenStore", "hook_name"]
_WHERE = {"HookReceiver": "receiver", "hook_name": "receiver", "HookSettings": "config", "SeenStore": "replay"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
