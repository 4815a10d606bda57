"""Errors of the config workflow; each is a :class:`~nornflow.exceptions.NornFlowError` and a builtin."""

from __future__ import annotations

from nornflow.exceptions import NornFlowError


class TemplateError(NornFlowError, ValueError):
    """A template is missing, malformed or needs data the host lacks; names template, line and host."""


class UnsupportedPlatform(NornFlowError, ValueError):
    """hier-config has no driver for a host's platform."""


class StalePlan(NornFlowError, RuntimeError):
    """The device's running config changed since the plan; the device was not touched."""


class ConfigRejected(NornFlowError, RuntimeError):
    """The device answered a config line with an error."""


class VerificationFailed(NornFlowError, RuntimeError):
    """After the push the device does not match its intended config, or a post-check failed."""


class RolledBack(NornFlowError, RuntimeError):
    """Apply or verify failed; the device was restored to its pre-change config and that was verified."""


class RollbackFailed(NornFlowError, RuntimeError):
    """Apply or verify failed and the device could not be restored: it needs a person."""


class LedgerError(NornFlowError, LookupError):
    """A run's ledger is missing or unreadable, so the run cannot be resumed."""


class MaskedPlan(NornFlowError, RuntimeError):
    """A plan line holds a masked secret: what it would send is not what was shown, so nothing is sent."""


class DuplicateLines(NornFlowError, ValueError):
    """A configuration holds the same line twice in one place: a set-based plan cannot say which to keep."""
