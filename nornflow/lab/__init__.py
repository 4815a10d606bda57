"""The simulated device lab: SSH devices on loopback (one asyncssh event loop) and a Nornir inventory for them."""

from nornflow.lab.devices import PLATFORMS
from nornflow.lab.lab import Device, Lab, free_ports

__all__ = ["PLATFORMS", "Device", "Lab", "free_ports"]
