from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from tests.support.events import record_emitted

#: fra changes Tue-Thu 22:00-04:00 Berlin; ams and nyc have no window (the default: open).
CALENDAR = {
    "timezone": "Europe/Berlin",
    "margin_minutes": 15,
    "windows": [{"name": "fra-night", "sites": ["fra"], "days": "tue-thu", "start": "22:00", "end": "04:00"}],
}
FRIDAY_NOON = datetime(2026, 3, 6, 11, 0, tzinfo=UTC)  # 12:00 CET, outside
TUESDAY_NIGHT = datetime(2026, 3, 3, 22, 0, tzinfo=UTC)  # 23:00 CET, inside until 03:00 UTC
WEDNESDAY_0350 = datetime(2026, 3, 4, 2, 50, tzinfo=UTC)  # 03:50 CET, 10 min before the end: < margin


@pytest.fixture
def calendar_file(tmp_path) -> str:
    path = tmp_path / "change-calendar.yaml"
    path.write_text(yaml.safe_dump(CALENDAR), encoding="utf-8")
    return str(path)


@pytest.fixture
def set_clock(monkeypatch) -> Callable[..., list[datetime]]:
    """Fix the windows' clock: one time, or a sequence (the last one repeats); returns the times read."""
    from nornflow.change import windows

    read: list[datetime] = []

    def install(*times: datetime) -> list[datetime]:
        queue = list(times)

        def clock() -> datetime:
            moment = queue.pop(0) if len(queue) > 1 else queue[0]
            read.append(moment)
            return moment

        monkeypatch.setattr(windows, "clock", clock)
        return read

    return install


@pytest.fixture
def change_events(monkeypatch) -> Iterator[list[dict[str, Any]]]:
    from nornflow.change import report

    yield record_emitted(monkeypatch, report)
