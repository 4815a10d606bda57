"""What Prefect will run: a deployment file's schedule, read by Prefect's own parser.

``prefect deploy`` hands a schedule's ``cron:`` to Prefect's ``CronSchedule``, whose croniter reads
six fields as ``minute hour day month weekday second`` (seconds LAST) and a seventh as the year.
Quartz and Spring put seconds FIRST. So a six-field ``cron:`` can mean two schedules:

- it parses only in croniter's order: accepted, that is what Prefect runs;
- it parses both ways and both fire at the same instants (``* * * * * *``): accepted;
- it parses both ways with different instants (``*/15 * * * * *``: every 15 s in Quartz order,
  every second of minutes 0, 15, 30 and 45 in croniter's): refused as ambiguous;
- it parses only in Quartz order (``30 0 2 ? * MON-FRI``): refused, Prefect would refuse it too.

A Quartz expression is kept in the deployment's own ``quartz:`` mapping, by the ``slug`` of the
schedule that runs it: ``prefect deploy`` refuses a schedule with a key it does not know (and then
skips the whole file), but ignores unknown keys of a deployment. The schedule itself holds the
``cron:`` or ``rrule:`` Prefect runs (the translation :meth:`~nornflow.triggers.quartz.Quartz.prefect`
gives); :func:`check_quartz` checks the two fire at the same instants, asking Prefect's scheduler
code for both sets of dates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from nornflow.triggers.quartz import QuartzError, parse

#: Instants the comparison starts from: a Saturday, a DST change in Europe and America, a leap day.
PROBES = ("2027-02-27T00:00:00", "2027-03-27T23:59:00", "2027-10-30T22:30:00", "2028-02-27T12:00:00",
          "2027-11-06T23:00:00")
ONTIME_COMMAND = "python -m nornflow.triggers.ontime"


@dataclass
class Verdict:
    """A schedule's reading: ``problem`` (and ``fix``) when refused, else what it means."""

    meaning: str = ""
    problem: str = ""
    fix: str = ""
    spec: dict[str, Any] = field(default_factory=dict)  # what Prefect runs (cron/rrule/interval, timezone)

    @property
    def ok(self) -> bool:
        return not self.problem


def prefect_schedule(spec: dict[str, Any]) -> Any:
    """The server-side schedule object of ``spec``, built as ``prefect deploy`` builds it (its validators run)."""
    from prefect.server.schemas import schedules as server

    timezone = {"timezone": spec["timezone"]} if spec.get("timezone") else {}
    if spec.get("cron"):
        day_or = {"day_or": spec["day_or"]} if spec.get("day_or") is not None else {}
        return server.CronSchedule(cron=str(spec["cron"]), **timezone, **day_or)
    if spec.get("rrule"):
        return server.RRuleSchedule(rrule=str(spec["rrule"]), **timezone)
    interval = spec["interval"]
    seconds = timedelta(seconds=interval) if isinstance(interval, (int, float)) else interval
    anchor = datetime.fromisoformat(str(spec["anchor_date"])) if spec.get("anchor_date") else None
    if anchor is not None:
        return server.IntervalSchedule(interval=seconds, anchor_date=anchor, **timezone)  # type: ignore[arg-type]
    return server.IntervalSchedule(interval=seconds, **timezone)


def fire_times(spec: dict[str, Any], n: int = 3, start: datetime | None = None) -> list[datetime]:
    """The next ``n`` instants Prefect's scheduler would create runs for, from ``start`` (default now)."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    schedule = prefect_schedule(spec)
    dates: list[Any] = run_coro_as_sync(schedule.get_dates(n=n, start=start or datetime.now(UTC))) or []
    return [datetime.fromtimestamp(d.timestamp(), UTC) for d in dates]


def same_fires(a: dict[str, Any], b: dict[str, Any], n: int = 40) -> bool:
    """Whether two schedules fire at the same instants from each of :data:`PROBES` and from now."""
    starts = [datetime.now(UTC), *(datetime.fromisoformat(p).replace(tzinfo=UTC) for p in PROBES)]
    return all(fire_times(a, n, s) == fire_times(b, n, s) for s in starts)


def explain(spec: dict[str, Any], meaning: str = "", n: int = 3) -> str:
    """``every 15 s; next: 2026-12-05 02:00:15, ... (Europe/Berlin)``: Prefect's own next fire times."""
    from zoneinfo import ZoneInfo

    zone = spec.get("timezone") or "UTC"
    times = [t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") for t in fire_times(spec, n)]
    shown = ", ".join(times) if times else "never (no date matches)"
    return f"{meaning + '; ' if meaning else ''}next: {shown} ({zone})"


def to_seconds(spec: dict[str, Any]) -> bool:
    """Whether the schedule fires at a second other than :00, or more than once a minute.

    An interval fires at whatever second its anchor has: it counts only when it is under a minute.
    """
    if spec.get("interval") is not None:
        return prefect_schedule(spec).interval.total_seconds() < 60  # type: ignore[no-any-return]
    times = fire_times(spec, 5)
    return any(t.second for t in times) or any((b - a).total_seconds() < 60 for a, b in pairwise(times))


def pair(quartz: str, translated: dict[str, Any], slug: str) -> str:
    """What to write: the schedule Prefect runs (with its slug), and the deployment's ``quartz:`` entry."""
    return (f"\n      in the schedule:{snippet({**translated, 'slug': slug})}"
            f"\n      in the deployment (prefect deploy ignores it; doctor checks the two agree):"
            f"{snippet({'quartz': {slug: quartz}})}")


def snippet(spec: dict[str, Any], indent: str = "        ") -> str:
    """The schedule's keys as YAML lines to paste (an rrule set as a ``|`` block, one RRULE a line)."""
    lines = []
    for key, value in spec.items():
        if isinstance(value, str) and "\n" in value:
            lines += [f"{key}: |", *(f"  {line}" for line in value.splitlines())]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "".join(f"\n{indent}{line}" for line in lines)


def read_cron(text: str, timezone: str | None = None, slug: str = "quartz-1") -> Verdict:
    """What Prefect runs for ``cron: text``, or why a 6/7-field one is refused (see the module's rules)."""
    from pydantic import ValidationError

    spec: dict[str, Any] = {"cron": text, **({"timezone": timezone} if timezone else {})}
    try:
        prefect_schedule(spec)
        prefect_error = ""
    except (ValidationError, ValueError) as exc:
        prefect_error = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
    fields = text.split()
    if len(fields) not in (6, 7):
        return Verdict(problem=f"cron {text!r} does not parse: {prefect_error}",
                       fix="fix the expression (5 fields: minute hour day-of-month month day-of-week)") \
            if prefect_error else Verdict(meaning="cron, minute resolution", spec=spec)
    try:
        quartz = parse(text)
        quartz_error = ""
    except QuartzError as exc:
        quartz_error = str(exc)
    croniter_order = "croniter's order, seconds last: minute hour day-of-month month day-of-week second [year]"
    if prefect_error and quartz_error:
        return Verdict(problem=f"cron {text!r} parses neither in {croniter_order} ({prefect_error}) nor in "
                       f"Quartz order ({quartz_error})",
                       fix="fix the expression; for Quartz order see docs/triggers.md")
    if quartz_error:
        return Verdict(meaning=f"{len(fields)} fields in {croniter_order}", spec=spec)
    translated = quartz.prefect(timezone)
    write = pair(text, translated, slug)
    if prefect_error:
        return Verdict(problem=f"cron {text!r} is in Quartz order (seconds first: {quartz.describe()}); "
                       f"prefect deploy reads cron in {croniter_order} and would refuse it ({prefect_error})",
                       fix=f"write what Prefect runs, and keep the Quartz text by the schedule's slug:{write}")
    if same_fires(spec, translated):
        return Verdict(meaning=f"{quartz.describe()} (read either way)", spec=spec)
    prefect_reads = ", ".join(t.strftime("%H:%M:%S") for t in fire_times(spec, 4))
    return Verdict(
        problem=f"cron {text!r} is ambiguous: Prefect runs 6 fields in {croniter_order} (next at {prefect_reads} "
                f"UTC...), but in Quartz and Spring order (seconds first) it means {quartz.describe()}",
        fix="for Prefect's meaning, record the same schedule in Quartz order in the deployment's `quartz:` "
            f"(doctor checks that the two agree); for the Quartz meaning, write:{write}")


def check_quartz(text: str, spec: dict[str, Any] | None, slug: str) -> Verdict:
    """A deployment's ``quartz: {slug: text}``: it parses, and the schedule with that slug fires at the same instants.

    ``spec`` is that schedule (None when no schedule has the slug).
    """
    try:
        quartz = parse(str(text))
    except QuartzError as exc:
        return Verdict(problem=str(exc), fix="fix the expression (see docs/triggers.md)")
    timezone = (spec or {}).get("timezone")
    translated = quartz.prefect(timezone)
    if spec is None:
        schedule = snippet({**translated, "slug": slug})
        return Verdict(problem=f"quartz {slug!r} ({text!r}) names no schedule: prefect deploy runs only the "
                       "schedules under `schedules:`", fix=f"add the schedule Prefect runs:{schedule}")
    given = {k: spec[k] for k in ("cron", "rrule", "interval") if spec.get(k) not in (None, "")}
    kind = next(iter(given), "cron")
    mine = {kind: given.get(kind), **({"timezone": timezone} if timezone else {}),
            **({"day_or": spec["day_or"]} if spec.get("day_or") is not None else {})}
    if kind == "interval" or not same_fires(mine, translated):
        return Verdict(problem=f"`{kind}: {given.get(kind)}` does not fire when quartz {text!r} (slug {slug!r}) does "
                       f"({quartz.describe()})", fix=f"write in the schedule instead:{snippet(translated)}")
    return Verdict(meaning=f"{quartz.describe()} (quartz {text!r})", spec=mine)
