"""What goes wrong on the SSH path; each fails one host with a message saying what to do.

Messages never carry a secret's value: they name the inventory field or the reference.
"""

from __future__ import annotations

from nornflow.exceptions import NornFlowError


class SSHError(NornFlowError, ConnectionError):
    """A device session could not be set up on the SSH level; the message is the whole explanation."""


class JumpHostError(SSHError):
    """The jump host could not be reached, refused the login, or refused to forward to the device."""


class HostKeyUnknown(SSHError):
    """The device's host key is not in the known-hosts file (run ``nornflow hostkeys scan`` and review)."""


class HostKeyChanged(SSHError):
    """The device presented a host key other than the one recorded for it: possibly an interception."""

    def __init__(self, message: str, *, host: str = "", fingerprint: str = "", known: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.host = host
        self.fingerprint = fingerprint
        self.known = known


class LegacyAlgorithmsRequired(SSHError):
    """The device offers only older algorithms, which an inventory must opt in to per host or group."""


class PrivateKeyError(SSHError, ValueError):
    """A private key (from a secret) could not be read: wrong format or wrong passphrase."""
