"""Errors of change safety; each is a :class:`~nornflow.exceptions.NornFlowError` and a builtin."""

from __future__ import annotations

from nornflow.config.exceptions import LedgerError
from nornflow.exceptions import NornFlowError


class CalendarError(NornFlowError, ValueError):
    """A change calendar file is missing, malformed, or names an unknown time zone or day."""


class OverrideError(NornFlowError, ValueError):
    """An emergency override was asked for without a reason."""


class OutsideWindow(NornFlowError, PermissionError):
    """A device's change window closed (or a freeze began) before its first line: it was not touched."""


class RecordError(NornFlowError, LookupError):
    """A run's reproducibility record cannot be found or read."""


class ResumeError(NornFlowError, RuntimeError):
    """A run cannot be resumed: it still runs, it finished, or its plan no longer holds."""


__all__ = ["CalendarError", "LedgerError", "OutsideWindow", "OverrideError", "RecordError", "ResumeError"]
