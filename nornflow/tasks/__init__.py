"""Nornir tasks that the flows compose; each is an ordinary Nornir task function."""

from nornflow.tasks.backup import get_running_config
from nornflow.tasks.show import CommandRejected, show_commands

__all__ = ["CommandRejected", "get_running_config", "show_commands"]
