"""One exception root for NornFlow; each child also inherits the matching builtin.

Every message names the input that was wrong and what to do about it, and never
carries a secret's value (resolved values are redacted before they reach a message).
"""

from __future__ import annotations


class NornFlowError(Exception):
    """Root of every error NornFlow raises on purpose."""


class InventoryError(NornFlowError, ValueError):
    """The inventory file is missing, unreadable or malformed."""


class HostSelectionError(NornFlowError, LookupError):
    """A host filter matched no host, or named a host that does not exist."""


class FailureBudgetExceeded(NornFlowError, RuntimeError):
    """More hosts failed than the run's failure budget allows."""


class LabError(NornFlowError, RuntimeError):
    """The simulated device lab could not start, or its state file is unusable."""


class BackupError(NornFlowError, OSError):
    """A backup could not be written or committed."""


class SecretError(NornFlowError, LookupError):
    """A secret reference could not be parsed or resolved."""


class PlanError(NornFlowError, ValueError):
    """A plan is invalid: an unknown step, a cycle, a selection that matches nothing."""


class SecretReferenceError(SecretError, ValueError):
    """A secret reference is malformed; the message shows the expected syntax."""


class SecretNotFound(SecretError, KeyError):
    """The block, the path or the key a reference names does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SecretAccessDenied(SecretError, PermissionError):
    """The backend refused the read: a policy or role does not grant it."""


class SecretBackendUnavailable(SecretError, ConnectionError):
    """The backend stayed down or too slow after bounded retries."""


class SecretBackendNotInstalled(SecretError, ImportError):
    """A backend's SDK is missing; the message names the extra to install."""
