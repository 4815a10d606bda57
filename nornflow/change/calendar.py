"""The change calendar: allowed windows, freezes and one-off exceptions, per site or group.

A calendar is YAML kept in the repository (``deployments/change-calendar.yaml``); an
environment overrides it with a sibling file ``change-calendar.<env>.yaml`` (``NORNFLOW_ENV``
or ``env=``) whose entries replace those of the same name and whose other keys win::

    timezone: Europe/Berlin        # default time zone of every entry
    default: open                  # hosts that no window names: open (or closed)
    margin_minutes: 15             # a window closing sooner than this counts as closed
    windows:
      - {name: fra-night, sites: [fra], days: tue-thu, start: "22:00", end: "04:00"}
    freezes:
      - {name: year-end, start: 2026-12-18, end: 2027-01-04, reason: year-end freeze}
    exceptions:
      - {name: CHG-42, sites: [fra], start: "2026-03-10 14:00", end: "2026-03-10 16:00", allow: true}

A window's ``days`` are the days it *starts* on; an ``end`` at or before ``start`` is on the
next day (22:00-04:00 crosses midnight; 00:00-24:00 is a whole day). Times are wall-clock
times in the entry's zone (zoneinfo), so a window keeps its local hours across daylight
saving changes and is an hour shorter or longer on those nights; a start (or end) that falls
in the hour a spring-forward night skips is the first valid instant after it (02:30 on that
night in Berlin is 03:00 CEST), an ambiguous one on a fall-back night is its first occurrence.
A freeze's or exception's ``end`` is exclusive: a date alone is that day's 00:00, so
``end: 2027-01-04`` means "until 2027-01-04 00:00" (changes are allowed again on the 4th).
Groups match a host through its groups and their parent groups.

Which calendar: :func:`calendar_path` (the ``change_calendar`` parameter or ``--calendar``,
else ``$NORNFLOW_CHANGE_CALENDAR``, else none: every change is allowed). Flows and
``nornflow windows show`` resolve it the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nornflow.change.exceptions import CalendarError
from nornflow.utilities.yamlfile import load_yaml

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ENV_CALENDAR = "NORNFLOW_CHANGE_CALENDAR"
ENV_NAME = "NORNFLOW_ENV"


@dataclass(frozen=True)
class Target:
    """What a rule's scope is matched against: a host's name, site, role and groups."""

    name: str
    site: str | None = None
    role: str | None = None
    groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, host: Any) -> Target:
        """A Nornir host as a target (``data.site``, ``data.role``, its groups)."""
        return cls(name=host.name, site=host.get("site"), role=host.get("role"), groups=ancestry(host))


def ancestry(host: Any) -> tuple[str, ...]:
    """The names of a host's groups and of their parent groups, nearest first, each once."""
    found: list[str] = []
    pending = list(host.groups)
    while pending:
        group = pending.pop(0)
        if group.name not in found:
            found.append(group.name)
            pending.extend(getattr(group, "groups", ()) or ())
    return tuple(found)


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [] if value is None else value


class Scoped(BaseModel):
    """Which hosts an entry applies to: OR within a field, AND across fields; empty means all."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="unique per list; an environment file replaces it by name")
    sites: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    timezone: str | None = Field(default=None, description="IANA zone; default: the calendar's")

    _lists = field_validator("sites", "groups", "roles", "hosts", mode="before")(_as_list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    def matches(self, target: Target) -> bool:
        return ((not self.sites or target.site in self.sites) and (not self.roles or target.role in self.roles)
                and (not self.hosts or target.name in self.hosts)
                and (not self.groups or bool(set(self.groups) & set(target.groups))))

    def scope(self) -> str:
        parts = [f"{k}={','.join(v)}" for k in ("sites", "groups", "roles", "hosts") if (v := getattr(self, k))]
        return " & ".join(parts) or "all hosts"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC") from None


def wall_clock(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``tz`` as a UTC instant (DST-correct).

    A wall time the zone skips (02:30 on a spring-forward night) becomes the first valid
    instant after the gap, the transition itself; an ambiguous one (a fall-back night) is
    its first occurrence (fold 0).
    """
    local = datetime.combine(day, at, tz)
    moment = local.astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    low, high = sorted((int(local.replace(fold=1).timestamp()), int(moment.timestamp())))
    before = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:  # bisect to the second the offset changes: the gap's end
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _days(value: Any) -> list[str]:
    """``tue-thu``, ``[mon, fri]``, ``Tuesday`` or ``daily`` to ``["tue", "wed", "thu"]``."""
    items = _as_list(value)
    found: list[str] = []
    for item in items:
        text = str(item).strip().lower()
        if text in ("daily", "*", "every day"):
            return list(DAYS)
        ends = [p.strip()[:3] for p in text.split("-")]
        if any(e not in DAYS for e in ends) or len(ends) > 2:
            raise ValueError(f"day {item!r} is not a day or a range like tue-thu (days: {', '.join(DAYS)})")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        found += [DAYS[(first + i) % 7] for i in range((last - first) % 7 + 1)]
    return found


def _clock_time(value: Any) -> time:
    if isinstance(value, int):  # YAML 1.1 reads 22:00 unquoted as sexagesimal minutes
        value = f"{value // 60:02d}:{value % 60:02d}"
    text = str(value).strip()
    if text in ("24:00", "24:00:00"):
        return time(0, 0)
    if not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        raise ValueError(f"time {value!r} must be HH:MM (24-hour), e.g. 22:00")
    return time.fromisoformat(text.zfill(5) if len(text) == 4 else text)


class Window(Scoped):
    """A recurring period in which changes are allowed."""

    days: list[str] = Field(description="days the window starts on: tue-thu, [mon, wed], daily")
    start: time
    end: time = Field(description="at or before start: on the next day")

    _d = field_validator("days", mode="before")(_days)
    _t = field_validator("start", "end", mode="before")(_clock_time)


def _moment(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(0, 0))
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date or date-time like 2026-12-18 or 2026-12-18 22:00") from None
    return value


class Period(Scoped):
    """A dated period: a freeze, or a one-off exception (``allow: true`` opens, ``false`` closes)."""

    start: datetime
    end: datetime = Field(description="exclusive: a date alone is that day's 00:00 (end: 2027-01-04 is "
                          "until 2027-01-04 00:00)")
    reason: str = ""
    allow: bool = Field(default=True, description="exceptions only: true opens a window, false closes")

    _m = field_validator("start", "end", mode="before")(_moment)


class ChangeCalendar(BaseModel):
    """The whole calendar; ``source`` names the file(s) it came from."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    default: Literal["open", "closed"] = "open"
    margin_minutes: int = Field(default=0, ge=0, description="a window closing sooner counts as closed")
    windows: list[Window] = Field(default_factory=list)
    freezes: list[Period] = Field(default_factory=list)
    exceptions: list[Period] = Field(default_factory=list)
    source: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    def zone_of(self, entry: Scoped | None = None) -> ZoneInfo:
        return zone((entry.timezone if entry else None) or self.timezone)

    def localize(self, moment: datetime, entry: Scoped) -> datetime:
        """A calendar date-time in UTC: naive ones are wall-clock times in the entry's zone."""
        if moment.tzinfo is None:
            return wall_clock(moment.date(), moment.time(), self.zone_of(entry))
        return moment.astimezone(UTC)

    def applying(self, target: Target) -> tuple[list[Window], list[Period], list[Period]]:
        """The windows, freezes and exceptions whose scope includes ``target``."""
        return ([w for w in self.windows if w.matches(target)], [f for f in self.freezes if f.matches(target)],
                [e for e in self.exceptions if e.matches(target)])


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in overlay.items() if k not in ("windows", "freezes", "exceptions")}}
    for key in ("windows", "freezes", "exceptions"):
        entries = {e.get("name"): e for e in base.get(key) or [] if isinstance(e, dict)}
        entries.update({e.get("name"): e for e in overlay.get(key) or [] if isinstance(e, dict)})
        merged[key] = [e for e in entries.values() if not e.get("remove")]
    return merged


def _read(path: Path) -> dict[str, Any]:
    data = load_yaml(path, "change calendar", CalendarError,
                     f"; give an existing file (or unset {ENV_CALENDAR})") or {}
    if not isinstance(data, dict):
        raise CalendarError(f"change calendar {path} must hold a mapping (windows:, freezes:, exceptions:)")
    return data


def parse_calendar(data: dict[str, Any], source: str = "<dict>") -> ChangeCalendar:
    """Validate a calendar mapping; errors name each bad field (``windows.0.days``...)."""
    try:
        return ChangeCalendar.model_validate({**data, "source": source})
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(calendar)'}: {e['msg']}" for e in exc.errors()]
        raise CalendarError(f"change calendar {source} is invalid:\n" + "\n".join(lines)) from None


def calendar_path(explicit: str | Path | None = None) -> str | None:
    """Which calendar applies: ``explicit`` (a parameter, ``--calendar``), else ``$NORNFLOW_CHANGE_CALENDAR``.

    ``None`` when neither is set: no calendar, every change is allowed. There is no implicit
    default file, so a flow and ``nornflow windows show`` always agree on what decides.
    """
    given = str(explicit) if explicit else os.environ.get(ENV_CALENDAR, "").strip()
    return given or None


def load_calendar(path: str | Path | None = None, env: str | None = None) -> ChangeCalendar | None:
    """The calendar :func:`calendar_path` names, with its environment overlay.

    ``None`` when nothing names a file: no calendar, no restriction (the decision says so).
    """
    given = calendar_path(path)
    if not given:
        return None
    base = Path(given).expanduser()
    data, sources = _read(base), [str(base)]
    env = env or os.environ.get(ENV_NAME)
    overlay = base.with_name(f"{base.stem}.{env}{base.suffix}") if env else None
    if overlay is not None and overlay.is_file():
        data = _merge(data, _read(overlay))
        sources.append(str(overlay))
    return parse_calendar(data, " + ".join(sources))


def names_of(entries: Iterable[Scoped]) -> list[str]:
    return [e.name for e in entries]
