"""The SSH path of a real network: jump hosts, host keys, login keys and older devices.

One concern per module, composed by the engine's two session paths:

- :mod:`~nornflow.ssh.settings`: the ``ssh:`` mapping under an inventory element's ``data``
  (defaults, groups, hosts), merged per key the way Nornir inherits, and validated;
- :mod:`~nornflow.ssh.errors`: what goes wrong, each a clear per-host error;
- :mod:`~nornflow.ssh.algorithms`: the key exchanges, ciphers and host-key types offered by
  default, and the older ones an inventory opts in to;
- :mod:`~nornflow.ssh.keys`: private keys from secret values, imported in memory;
- :mod:`~nornflow.ssh.hostkeys`: the known-hosts file kept with the inventory, verification,
  ``nornflow hostkeys scan`` and the ``nornflow.device.hostkey-changed`` event;
- :mod:`~nornflow.ssh.jump`: one connection per bastion shared by many device sessions;
- :mod:`~nornflow.ssh.async_connect` (asyncssh, the async read path) and
  :mod:`~nornflow.ssh.threaded_connect` (paramiko, the threaded path): a device session through
  all of the above.
"""

from __future__ import annotations

from nornflow.ssh.errors import (
    HostKeyChanged,
    HostKeyUnknown,
    JumpHostError,
    LegacyAlgorithmsRequired,
    PrivateKeyError,
    SSHError,
)
from nornflow.ssh.settings import JumpHost, SSHSettings, ssh_settings

__all__ = [
    "HostKeyChanged", "HostKeyUnknown", "JumpHost", "JumpHostError", "LegacyAlgorithmsRequired",
    "PrivateKeyError", "SSHError", "SSHSettings", "ssh_settings",
]
