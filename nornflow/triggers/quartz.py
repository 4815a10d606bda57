"""Quartz-style cron expressions with seconds, read once and translated into a Prefect schedule.

The field order is Quartz's (and Spring's): ``second minute hour day-of-month month day-of-week
[year]``. ``*/15 * * * * *`` is every 15 seconds, ``30 0 2 ? * MON-FRI`` is 02:00:30 on business
days. Besides numbers, ranges (``a-b``), steps (``*/n``, ``a/n``, ``a-b/n``) and lists:

- day-of-month: ``L`` (last day), ``L-3`` (three days before it), ``15W`` (the weekday nearest
  the 15th, never leaving the month), ``LW`` (the last weekday), ``?`` (no rule);
- day-of-week: names only (``MON-FRI``, ``SAT,SUN``), ``FRI#3`` (the third Friday), ``FRIL``
  (the last Friday), ``?``;
- month: 1-12 or ``JAN``-``DEC``; year: 1970-2099, one contiguous range.

Refused, each with the reason: numbers in day-of-week (Quartz counts Sunday as 1, Spring and
Unix cron count Monday as 1: the same text means another day), rules in both day-of-month and
day-of-week (Unix cron ORs them, Spring ANDs them, Quartz refuses them), ``nW`` for n > 27 (what
it means depends on the month's length), and a list of years with gaps.

:func:`parse` returns a :class:`Quartz`; :meth:`Quartz.prefect` the schedule Prefect executes:
a ``cron`` in croniter's order (``minute hour day month weekday second``, the order Prefect's
server reads six fields in) when croniter can run it, else an ``rrule`` (``W``, ``L-n``, years).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nornflow.exceptions import NornFlowError

ORDER = "second minute hour day-of-month month day-of-week [year]"
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # croniter numbers them 0-6
_RRULE_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
_WEEKDAYS = "MO,TU,WE,TH,FR"


class QuartzError(NornFlowError, ValueError):
    """A Quartz cron expression that does not parse, or that other schedulers read another way."""


@dataclass(frozen=True)
class Days:
    """Day-of-month: ``any``; ``list`` of ``values``; ``last`` day minus ``n``; ``nearest`` weekday to
    day ``n``; ``last_weekday``."""

    kind: Literal["any", "list", "last", "nearest", "last_weekday"]
    values: tuple[int, ...] = ()
    n: int = 0


@dataclass(frozen=True)
class Weekdays:
    """Day-of-week (0 = Sunday): ``any``; ``list`` of ``values``; the ``nth`` or ``last`` of one day."""

    kind: Literal["any", "list", "nth", "last"]
    values: tuple[int, ...] = ()
    n: int = 0


@dataclass(frozen=True)
class Quartz:
    """One parsed expression; ``None`` in a field means every value."""

    text: str
    seconds: tuple[int, ...] | None
    minutes: tuple[int, ...] | None
    hours: tuple[int, ...] | None
    days: Days
    months: tuple[int, ...] | None
    weekdays: Weekdays
    years: tuple[int, ...] | None

    @property
    def needs_rrule(self) -> bool:
        """croniter has no ``W`` and no ``L-n``, and its year field fails with fixed dates."""
        return self.years is not None or self.days.kind in ("nearest", "last_weekday") or (
            self.days.kind == "last" and self.days.n > 0)

    def prefect(self, timezone: str | None = None) -> dict[str, str]:
        """The schedule Prefect executes, as a deployment file writes it (``cron:`` or ``rrule:``)."""
        spec = {"rrule": self.rrule()} if self.needs_rrule else {"cron": self.cron()}
        return {**spec, "timezone": timezone} if timezone else spec

    def cron(self) -> str:
        """croniter's order: ``minute hour day month weekday [second]`` (seconds last, as Prefect reads it)."""
        if self.needs_rrule:
            raise QuartzError(f"{self.text!r} needs an rrule: croniter cannot run {self._why_rrule()}")
        day = {"any": "*", "list": _compress(self.days.values), "last": "L"}[self.days.kind]
        week = self.weekdays
        weekday = ("*" if week.kind == "any" else _compress(week.values) if week.kind == "list"
                   else f"{week.values[0]}#{week.n}" if week.kind == "nth" else f"L{week.values[0]}")
        fields = [_compress(self.minutes, 59), _compress(self.hours, 23), day, _compress(self.months), weekday]
        if self.seconds != (0,):
            fields.append(_compress(self.seconds, 59))
        return " ".join(fields)

    def _why_rrule(self) -> str:
        return "a year field" if self.years is not None else f"day-of-month {self.text.split()[3]!r}"

    def rrule(self) -> str:
        """An RFC 5545 rule set (one ``RRULE`` line per case) that fires at exactly the same instants."""
        common = [f"BYHOUR={_every(self.hours, 0, 23)}", f"BYMINUTE={_every(self.minutes, 0, 59)}",
                  f"BYSECOND={_every(self.seconds, 0, 59)}"]
        if self.months is not None:
            common.insert(0, f"BYMONTH={','.join(map(str, self.months))}")
        week = self.weekdays
        if week.kind == "list":
            common.insert(0, "BYDAY=" + ",".join(_RRULE_DAYS[d] for d in week.values))
        elif week.kind in ("nth", "last"):
            common.insert(0, f"BYDAY={week.n if week.kind == 'nth' else -1}{_RRULE_DAYS[week.values[0]]}")
        head = ""
        if self.years is not None:
            common.append(f"UNTIL={self.years[-1]}1231T235959")
            head = f"DTSTART:{self.years[0]}0101T000000\n"
        # MONTHLY with no day rule would fire on DTSTART's day of the month only: every day is DAILY
        every_day = self.days.kind == "any" and week.kind == "any"
        frequency = "RRULE:FREQ=DAILY" if every_day else "RRULE:FREQ=MONTHLY"
        lines = [";".join([frequency, *cases, *common]) for cases in self._day_cases()]
        return head + "\n".join(lines)

    def _day_cases(self) -> list[list[str]]:
        days = self.days
        if days.kind == "any":
            return [[]]
        if days.kind == "list":
            return [[f"BYMONTHDAY={','.join(map(str, days.values))}"]]
        if days.kind == "last":
            return [[f"BYMONTHDAY=-{days.n + 1}"]]
        if days.kind == "last_weekday":  # the last day if a weekday, else the Friday before it
            return [["BYMONTHDAY=-1", f"BYDAY={_WEEKDAYS}"], ["BYMONTHDAY=-2", "BYDAY=FR"],
                    ["BYMONTHDAY=-3", "BYDAY=FR"]]
        n = days.n  # nearest weekday: day n itself, Friday n-1 (n a Saturday), Monday n+1 (n a Sunday)
        saturday = ["BYMONTHDAY=3", "BYDAY=MO"] if n == 1 else [f"BYMONTHDAY={n - 1}", "BYDAY=FR"]
        return [[f"BYMONTHDAY={n}", f"BYDAY={_WEEKDAYS}"], saturday, [f"BYMONTHDAY={n + 1}", "BYDAY=MO"]]

    def describe(self) -> str:
        """The schedule in words: ``every 15 s``, ``at 02:00:30 on MON-FRI``."""
        plain = (self.days.kind == "any" and self.weekdays.kind == "any" and self.months is None
                 and self.years is None)
        if plain and self.minutes is None and self.hours is None and (step := _step(self.seconds)):
            return "every second" if step == 1 else f"every {step} s"
        if plain and self.hours is None and self.seconds and len(self.seconds) == 1 and (
                step := _step(self.minutes)):
            return f"every {'minute' if step == 1 else f'{step} min'} at second {self.seconds[0]}"
        return " ".join(p for p in (self._time(), self._day(), self._month(), self._year()) if p)

    def _time(self) -> str:
        if all(f is not None and len(f) == 1 for f in (self.hours, self.minutes, self.seconds)):
            assert self.hours and self.minutes and self.seconds
            return f"at {self.hours[0]:02d}:{self.minutes[0]:02d}:{self.seconds[0]:02d}"
        parts = [f"{name} {_words(values)}" for name, values in
                 (("second", self.seconds), ("minute", self.minutes), ("hour", self.hours))]
        return "at " + ", ".join(parts)

    def _day(self) -> str:
        days, week = self.days, self.weekdays
        if days.kind == "list":
            return f"on day {_words(days.values)} of the month"
        if days.kind == "last":
            return "on the last day of the month" if not days.n else f"{days.n} day(s) before the month's last day"
        if days.kind == "nearest":
            return f"on the weekday (Mon-Fri) nearest day {days.n} of the month"
        if days.kind == "last_weekday":
            return "on the last weekday (Mon-Fri) of the month"
        if week.kind == "list":
            return "on " + ",".join("-".join(DAYS[int(d)] for d in part.split("-"))
                                    for part in _compress(week.values).split(","))
        if week.kind == "nth":
            return f"on the {_ordinal(week.n)} {DAYS[week.values[0]]} of the month"
        if week.kind == "last":
            return f"on the last {DAYS[week.values[0]]} of the month"
        return "every day"

    def _month(self) -> str:
        return "in " + ",".join(MONTHS[m - 1] for m in self.months) if self.months else ""

    def _year(self) -> str:
        return f"in {_words(self.years)}" if self.years else ""


def parse(text: str) -> Quartz:
    """Read a 6- or 7-field Quartz expression; :class:`QuartzError` names the field and the fix."""
    fields = str(text).split()
    if len(fields) not in (6, 7):
        raise QuartzError(f"Quartz cron {text!r} has {len(fields)} fields; it needs 6 or 7: {ORDER}")
    sec, minute, hour, day, month, week = fields[:6]
    days = _days(day, text)
    weekdays = _weekdays(week, text)
    if days.kind != "any" and weekdays.kind != "any":
        raise QuartzError(
            f"Quartz cron {text!r} sets both day-of-month {day!r} and day-of-week {week!r}: Unix cron fires on "
            "either, Spring on both, Quartz refuses it. Write `?` in the one you do not mean")
    return Quartz(
        text=" ".join(fields),
        seconds=_values(sec, "second", 0, 59, text), minutes=_values(minute, "minute", 0, 59, text),
        hours=_values(hour, "hour", 0, 23, text), days=days,
        months=_values(month, "month", 1, 12, text, names=MONTHS),
        weekdays=weekdays, years=_years(fields[6] if len(fields) == 7 else "*", text),
    )


def _values(token: str, field: str, low: int, high: int, text: str,
            names: tuple[str, ...] = ()) -> tuple[int, ...] | None:
    """A field's values (``None``: all of them) from numbers, names, ranges, steps and lists."""
    if token == "?":  # noqa: S105 - a cron token, not a password
        raise QuartzError(f"Quartz cron {text!r}: `?` is only for day-of-month or day-of-week, not the {field}")
    found: set[int] = set()
    for item in token.split(","):
        base, slash, step_text = item.partition("/")
        step = _number(step_text, f"{field} step", 1, high - low + 1, text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = (_number(start, field, low, high, text, names), _number(end, field, low, high, text, names))
            if first > last:
                raise QuartzError(f"Quartz cron {text!r}: {field} range {base!r} runs backwards; "
                                  f"write it as a list ({start},...,{end}) or two ranges")
        else:
            first = _number(base, field, low, high, text, names)
            last = high if slash else first
        found.update(range(first, last + 1, step))
    return None if found == set(range(low, high + 1)) else tuple(sorted(found))


def _number(token: str, field: str, low: int, high: int, text: str, names: tuple[str, ...] = ()) -> int:
    if token.upper() in names:
        return names.index(token.upper()) + low
    if not token.isdigit() or not low <= int(token) <= high:
        allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
        raise QuartzError(f"Quartz cron {text!r}: {field} {token!r} is not {allowed} (field order: {ORDER})")
    return int(token)


def _days(token: str, text: str) -> Days:
    upper = token.upper()
    if upper in ("?", "*"):
        return Days("any")
    if upper == "L":
        return Days("last")
    if upper.startswith("L-"):
        return Days("last", n=_number(upper[2:], "day-of-month offset after L-", 0, 30, text))
    if upper == "LW":
        return Days("last_weekday")
    if upper.endswith("W"):
        n = _number(upper[:-1], "day-of-month before W", 1, 31, text)
        if n > 27:
            raise QuartzError(
                f"Quartz cron {text!r}: {token!r} depends on the month's length (schedulers disagree on a "
                "month without that day, or whose last day is a Sunday); write LW for the last weekday")
        return Days("nearest", n=n)
    values = _values(token, "day-of-month", 1, 31, text)
    return Days("any") if values is None else Days("list", values)


def _weekdays(token: str, text: str) -> Weekdays:
    upper = token.upper()
    if upper in ("?", "*"):
        return Weekdays("any")
    if any(c.isdigit() for c in upper.split("#")[0]) or upper == "L":
        raise QuartzError(
            f"Quartz cron {text!r}: day-of-week {token!r} uses numbers, which schedulers count differently "
            "(Quartz: 1 = Sunday; Spring and Unix cron: 1 = Monday). Write day names: MON-FRI, SAT,SUN, FRI#3, FRIL")
    if "#" in upper:
        day, _, nth = upper.partition("#")
        return Weekdays("nth", (_day_name(day, text),), _number(nth, "day-of-week nth (after #)", 1, 5, text))
    if len(upper) == 4 and upper.endswith("L"):
        return Weekdays("last", (_day_name(upper[:3], text),))
    if "/" in upper:
        raise QuartzError(f"Quartz cron {text!r}: day-of-week {token!r}: steps are not accepted here; list the days")
    found: set[int] = set()
    for item in upper.split(","):
        start, _, end = item.partition("-")
        first, last = _day_name(start, text), _day_name(end or start, text)
        if first > last:
            raise QuartzError(f"Quartz cron {text!r}: day-of-week range {item!r} wraps past Saturday; "
                              "write it as a list (e.g. FRI,SAT,SUN,MON)")
        found.update(range(first, last + 1))
    return Weekdays("any") if len(found) == 7 else Weekdays("list", tuple(sorted(found)))


def _day_name(name: str, text: str) -> int:
    if name not in DAYS:
        raise QuartzError(f"Quartz cron {text!r}: {name!r} is not a day name ({', '.join(DAYS)})")
    return DAYS.index(name)


def _years(token: str, text: str) -> tuple[int, ...] | None:
    if token in ("*", "?"):
        return None
    years = _values(token, "year", 1970, 2099, text)
    if years is not None and years != tuple(range(years[0], years[-1] + 1)):
        raise QuartzError(f"Quartz cron {text!r}: the years {token!r} have gaps; Prefect's schedules run one "
                          "contiguous range: write one range, or one schedule per range")
    return years


def _compress(values: tuple[int, ...] | None, high: int = 0) -> str:
    """``0,1,2,3,7`` -> ``0-3,7``; ``0,15,30,45`` up to ``high`` 59 -> ``*/15``; ``None`` -> ``*``."""
    if values is None:
        return "*"
    step = values[1] - values[0] if len(values) > 2 and values[0] == 0 else 0
    if step > 1 and values == tuple(range(0, high + 1, step)):
        return f"*/{step}"
    parts, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[i - 1] + 1:
            first, last = values[start], values[i - 1]
            parts.append(str(first) if first == last else f"{first}-{last}")
            start = i
    return ",".join(parts)


def _every(values: tuple[int, ...] | None, low: int, high: int) -> str:
    return ",".join(map(str, values if values is not None else range(low, high + 1)))


def _step(values: tuple[int, ...] | None) -> int | None:
    """The step of ``0, s, 2s, ...`` covering a minute or an hour evenly (``None``: every value, 1)."""
    if values is None:
        return 1
    step = values[1] - values[0] if len(values) > 1 else 60
    evenly = values[0] == 0 and 60 % step == 0 and values == tuple(range(0, 60, step))
    return step if evenly and len(values) > 1 else None


def _words(values: tuple[int, ...] | None) -> str:
    return "every" if values is None else _compress(values)


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
