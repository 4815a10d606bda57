"""The reusable flows. ``flows/*.py`` at the repository root re-export them for ``prefect deploy``."""

from nornflow.flows.backup_configs import backup_configs
from nornflow.flows.check_compliance import check_compliance
from nornflow.flows.deploy_config import deploy_config
from nornflow.flows.fleet_report import fleet_report
from nornflow.flows.show_commands import show_commands
from nornflow.flows.stack_health import stack_health

__all__ = ["backup_configs", "check_compliance", "deploy_config", "fleet_report", "show_commands", "stack_health"]
