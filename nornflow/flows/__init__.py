"""The reusable flows. ``flows/*.py`` at the repository root re-export them for ``prefect deploy``."""

from nornflow.flows.backup_configs import backup_configs
from nornflow.flows.show_commands import show_commands

__all__ = ["backup_configs", "show_commands"]
