"""Quartz crons: the translation fires when Quartz would, as Prefect's own scheduler computes it.

The reference below reads Quartz's rules directly (day by day, second by second), independent of
the translator; the translator's output goes through ``prefect deploy``'s own schedule builder and
Prefect's server-side ``get_dates``, which is what the scheduler service runs.
"""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from nornflow.triggers.quartz import QuartzError, parse
from nornflow.triggers.schedules import fire_times, prefect_schedule, snippet

STARTS = [datetime(2027, 2, 26, 23, 59, 50, tzinfo=UTC), datetime(2027, 5, 31, 12, 0, tzinfo=UTC),
          datetime(2028, 2, 27, 0, 0, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)]
QUARTZ = [
    "*/15 * * * * *",
    "30 0 2 ? * MON-FRI",
    "0 0 12 LW * ?",
    "0 15 10 15W * ?",
    "0 0 9 1W * ?",
    "0 0 9 27W * ?",
    "0 0 9 ? * FRI#3",
    "0 0 9 ? * MONL",
    "0 0 0 L * ?",
    "0 0 0 L-2 * ?",
    "0 0 6 1 JAN,JUL ?",
    "5/20 10-12 8 * * ?",
    "0 0 0 29 FEB ? 2028-2032",
    "0 0 9 ? * SAT,SUN",
    "0 30 8 ? * MON#1 2027",
    "*/30 * * LW * ?",
    "0 0 0 ? * * 2028",
]


def _last(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, n: int) -> int:
    wanted = date(day.year, day.month, n)
    if wanted.weekday() == 5:  # Saturday: the Friday before, or Monday the 3rd for the 1st
        return 3 if n == 1 else n - 1
    if wanted.weekday() == 6:  # Sunday: the Monday after, or the Friday before the month's last day
        return n - 2 if n == _last(day) else n + 1
    return n


def _day_matches(expr: str, day: date) -> bool:
    q = parse(expr)
    if q.years is not None and day.year not in q.years:
        return False
    if q.months is not None and day.month not in q.months:
        return False
    sunday_first = (day.weekday() + 1) % 7  # Quartz names, counted SUN=0 here
    if q.weekdays.kind == "list":
        return sunday_first in q.weekdays.values
    if q.weekdays.kind == "nth":
        return sunday_first == q.weekdays.values[0] and (day.day - 1) // 7 + 1 == q.weekdays.n
    if q.weekdays.kind == "last":
        return sunday_first == q.weekdays.values[0] and day.day + 7 > _last(day)
    if q.days.kind == "list":
        return day.day in q.days.values
    if q.days.kind == "last":
        return day.day == _last(day) - q.days.n
    if q.days.kind == "nearest":
        return day.day == _nearest_weekday(day, q.days.n)
    if q.days.kind == "last_weekday":
        last = date(day.year, day.month, _last(day))
        return day.day == last.day - max(0, last.weekday() - 4)
    return True


def reference(expr: str, start: datetime, n: int) -> list[datetime]:
    """The first ``n`` instants at or after ``start`` (UTC) that Quartz's rules select."""
    q = parse(expr)
    found: list[datetime] = []
    day = start.date()
    while len(found) < n and day.year < 2040:
        if _day_matches(expr, day):
            for h, m, s in itertools.product(q.hours or range(24), q.minutes or range(60), q.seconds or range(60)):
                moment = datetime(day.year, day.month, day.day, h, m, s, tzinfo=UTC)
                if moment >= start and len(found) < n:
                    found.append(moment)
        day += timedelta(days=1)
    return found


def deployed(spec: dict[str, str]) -> dict[str, str]:
    """The schedule as `prefect deploy` builds it from the YAML doctor prints (the snippet is pasted)."""
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule

    config = yaml.safe_load(snippet(spec, indent=""))
    schedule = _schedule_config_to_deployment_schedule(config)["schedule"]
    return {k: v for k, v in schedule.model_dump().items() if k in ("cron", "rrule", "timezone") and v}


@pytest.mark.parametrize("expr", QUARTZ)
def test_prefect_fires_exactly_when_quartz_does(expr):
    spec = deployed(parse(expr).prefect("UTC"))
    for start in STARTS:
        expected = reference(expr, start, 12)
        assert fire_times(spec, 12, start) == expected, (expr, start, spec)


def test_translation_keeps_the_time_zone_across_a_dst_change():
    spec = parse("0 30 2 ? * SUN").prefect("Europe/Berlin")
    assert spec == {"cron": "30 2 * * 0", "timezone": "Europe/Berlin"}
    times = fire_times(spec, 3, datetime(2027, 3, 20, tzinfo=UTC))
    # 02:30 CET, then 28 March (02:30 does not exist in Berlin: Prefect runs it at 03:30 CEST), then 02:30 CEST
    assert [t.strftime("%m-%d %H:%M") for t in times] == ["03-21 01:30", "03-28 01:30", "04-04 00:30"]
    every = fire_times(parse("*/15 * * * * *").prefect("Asia/Kolkata"), 3, datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert [t.second for t in every] == [15, 30, 45]


@pytest.mark.parametrize(("expr", "cron"), [
    ("*/15 * * * * *", "* * * * * */15"),
    ("30 0 2 ? * MON-FRI", "0 2 * * 1-5 30"),
    ("0 0 2 * * ?", "0 2 * * *"),
    ("0 0 9 ? * FRI#3", "0 9 * * 5#3"),
    ("0 0 9 ? * FRIL", "0 9 * * L5"),
    ("0 0 0 L * ?", "0 0 L * *"),
])
def test_translation_is_the_cron_croniter_reads_seconds_last(expr, cron):
    from prefect._vendor.croniter import croniter

    assert parse(expr).cron() == cron
    assert croniter.is_valid(cron)
    prefect_schedule({"cron": cron})  # Prefect's own validator


@pytest.mark.parametrize(("expr", "kind"), [("0 0 12 LW * ?", "rrule"), ("0 15 10 15W * ?", "rrule"),
                                            ("0 0 0 L-2 * ?", "rrule"), ("0 0 0 1 1 ? 2027", "rrule"),
                                            ("0 0 0 L * ?", "cron")])
def test_w_offsets_and_years_become_an_rrule(expr, kind):
    assert set(parse(expr).prefect()) == {kind}


@pytest.mark.parametrize(("expr", "says"), [
    ("*/15 * * * *", "has 5 fields; it needs 6 or 7"),
    ("0 0 2 ? * 1-5", "uses numbers, which schedulers count differently"),
    ("0 0 2 ? * 2#1", "uses numbers"),
    ("0 0 2 15 * MON", "sets both day-of-month '15' and day-of-week 'MON'"),
    ("0 0 9 30W * ?", "depends on the month's length"),
    ("0 0 0 1 1 ? 2027,2029", "have gaps"),
    ("? * * * * *", "`?` is only for day-of-month or day-of-week"),
    ("60 * * * * *", "second '60' is not 0-59"),
    ("0 30-10 * * * ?", "runs backwards"),
    ("0 0 0 ? * FRI-MON", "wraps past Saturday"),
    ("0 0 0 ? * FRI#6", "nth (after #) '6' is not 1-5"),
    ("0 0 0 ? FOO *", "month 'FOO' is not 1-12 or JAN-DEC"),
])
def test_refusals_name_the_field_and_the_fix(expr, says):
    with pytest.raises(QuartzError, match=None) as caught:
        parse(expr)
    assert says in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("expr", "words"), [
    ("*/15 * * * * *", "every 15 s"),
    ("* * * * * *", "every second"),
    ("30 */5 * * * ?", "every 5 min at second 30"),
    ("30 0 2 ? * MON-FRI", "at 02:00:30 on MON-FRI"),
    ("0 0 12 LW * ?", "at 12:00:00 on the last weekday (Mon-Fri) of the month"),
    ("0 0 9 ? * FRI#3", "at 09:00:00 on the 3rd FRI of the month"),
    ("0 0 6 1 JAN,JUL ?", "at 06:00:00 on day 1 of the month in JAN,JUL"),
])
def test_describe(expr, words):
    assert parse(expr).describe() == words
