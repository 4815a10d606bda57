"""Incoming webhooks: ``/w/<workspace>/hooks/<name>`` turns a signed delivery into a Prefect event.

:mod:`.config` (a hook's settings), :mod:`.signatures` (GitHub, GitLab, Nautobot, bearer),
:mod:`.mapping` (the sandboxed template and Prefect's Event model), :mod:`.replay` (what was
accepted already), :mod:`.receiver` (the route, composed by the gateway's app).
"""

from __future__ import annotations

from nornflow.gateway.hooks.config import HookSettings
from nornflow.gateway.hooks.receiver import HookReceiver, hook_name
from nornflow.gateway.hooks.replay import SeenStore

__all__ = ["HookReceiver", "HookSettings", "SeenStore", "hook_name"]
