"""Process settings NornFlow applies before Prefect is imported by its entry points."""

from __future__ import annotations

import os

#: Prefect settings that make the embedded (ephemeral) server work on a small, offline machine.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}

#: The Prefect variable that marks a server as a lab's: deploy_config honours auto_approve only where it
#: is true. In team mode the gateway mirrors it from a workspace's ``lab`` setting and nobody may write it.
LAB_VARIABLE = "nornflow_lab"


def apply_prefect_defaults() -> None:
    """Set the defaults above unless the user set them (call before importing prefect)."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
