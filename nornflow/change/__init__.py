"""Change safety: change windows and freezes, emergency overrides, a reproducibility record per run.

    from nornflow.change import windows, load_calendar
    verdict = windows.check("inventory/", ["fra-spine-01"], calendar="deployments/change-calendar.yaml")
"""

from __future__ import annotations

from nornflow.change.calendar import ChangeCalendar, Target, load_calendar, parse_calendar
from nornflow.change.exceptions import CalendarError, OverrideError, RecordError
from nornflow.change.windows import Override, WindowCheck, WindowDecision, check, check_targets

__all__ = [
    "CalendarError", "ChangeCalendar", "Override", "OverrideError", "RecordError", "Target", "WindowCheck",
    "WindowDecision", "check", "check_targets", "load_calendar", "parse_calendar",
]
