"""Nornir tasks that the flows compose; each is an ordinary Nornir task function."""

from nornflow.tasks.backup import get_running_config
from nornflow.tasks.platforms import CommitStyle, DevicePlatform, device_platform, register_platform
from nornflow.tasks.show import CommandRejected, show_commands

__all__ = ["CommandRejected", "CommitStyle", "DevicePlatform", "device_platform", "get_running_config",
           "register_platform", "show_commands"]
