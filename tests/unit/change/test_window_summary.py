"""The window summary a person reads in the artifact: an overridden device is not "inside" its window."""

from __future__ import annotations

from datetime import UTC, datetime

from nornflow.change.calendar import Target, parse_calendar
from nornflow.change.report import window_markdown
from nornflow.change.windows import Override, check_targets

CALENDAR = {"timezone": "Europe/Berlin", "default": "closed",
            "windows": [{"name": "fra-night", "sites": ["fra"], "days": "tue-thu", "start": "22:00", "end": "04:00"}]}
NIGHT = datetime(2026, 3, 4, 22, 0, tzinfo=UTC)        # Wed 23:00 in Berlin: fra inside, ams outside


def targets() -> list[Target]:
    return [Target(name="fra-1", site="fra"), Target(name="ams-1", site="ams"), Target(name="ams-2", site="ams")]


def test_override_counts_as_override_not_inside():
    verdict = check_targets(targets(), parse_calendar(CALENDAR), now=NIGHT, override=Override.of("INC-9", "alice"))
    assert verdict.allowed == ["fra-1", "ams-1", "ams-2"] and verdict.overridden == ["ams-1", "ams-2"]
    summary = verdict.summary()
    assert summary.startswith("1 inside their change window, 0 outside, 2 outside but allowed by emergency "
                              "override (INC-9)"), summary
    table = window_markdown(verdict)
    assert "| ams-1 | override |" in table and "| fra-1 | inside |" in table


def test_without_override_the_counts_are_inside_and_outside():
    verdict = check_targets(targets(), parse_calendar(CALENDAR), now=NIGHT)
    assert verdict.summary() == "1 inside their change window, 2 outside"
