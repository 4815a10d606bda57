"""The reusable flows. ``flows/*.py`` at the repository root re-export them for ``prefect deploy``."""

from nornflow.flows.backup_configs import backup_configs
from nornflow.flows.check_compliance import check_compliance
from nornflow.flows.deploy_config import deploy_config
from nornflow.flows.show_commands import show_commands

__all__ = ["backup_configs", "check_compliance", "deploy_config", "show_commands"]
