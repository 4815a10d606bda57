"""Process settings NornFlow applies before Prefect is imported by its entry points."""

from __future__ import annotations

import os

#: Prefect settings that make the embedded (ephemeral) server work on a small, offline machine.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    # fleet_report looks 30 days back; Prefect keeps events 7. Every server a NornFlow process starts
    # (and its event trimming, which deletes what is older on the shared database) keeps 30.
    "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P30D",
}

#: The Prefect variable that marks a server as a lab's: deploy_config honours auto_approve only where it
#: is true. In team mode the gateway mirrors it from a workspace's ``lab`` setting and nobody may write it.
LAB_VARIABLE = "nornflow_lab"
#: A deployment tag ``runner-sets:<parameter>`` lets a team-mode runner set that parameter (nornflow.gateway).
RUNNER_TAG = "runner-sets:"
#: Never runner-settable, whatever a tag says: they decide how a change is approved or windowed.
GOVERNED = frozenset({"auto_approve", "approval_timeout", "approval_poll_interval", "change_calendar",
                      "override_reason", "override_by", "resume_of"})


def apply_prefect_defaults() -> None:
    """Set the defaults above unless the user set them (call before importing prefect)."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
