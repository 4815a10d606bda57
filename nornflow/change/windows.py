"""Is a device inside its change window now, until when, and when is its next one?

:func:`check` is what every flow that writes to devices calls before it pushes (and what
a user flow calls through the library)::

    from nornflow.change import windows
    verdict = windows.check(nr, hosts, calendar="deployments/change-calendar.yaml")
    for name in verdict.refused: ...         # not touched; verdict[name].message says the next window

Precedence at an instant: a closing one-off exception, then an opening one, then a freeze,
then the host's windows (a host that no window names gets the calendar's ``default``).
Time comes from :func:`clock` (UTC); tests replace it, library callers may pass ``now``.

A push checks twice with one :class:`WindowGuard`: for the whole selection before the
backup, and per device just before its first line (:meth:`WindowGuard.refusal`), so a
window that closes while earlier devices push leaves the later ones untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from nornflow.change.calendar import ChangeCalendar, Target, load_calendar, wall_clock, zone
from nornflow.change.exceptions import OutsideWindow, OverrideError

HORIZON = timedelta(days=400)


def clock() -> datetime:
    """Now, in UTC; the one place flows read the time (tests replace this function)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Span:
    """One concrete period on the time line (UTC) and the rule it came from."""

    start: datetime
    end: datetime
    kind: str  # window, freeze, allow, deny
    name: str
    reason: str = ""
    timezone: str = "UTC"

    def until(self) -> str:
        """`` until Mon 2027-01-04 00:00 CET``: the (exclusive) end, in the entry's zone."""
        return f" until {self.end.astimezone(zone(self.timezone)):%a %Y-%m-%d %H:%M %Z}"

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def spans(calendar: ChangeCalendar, target: Target, since: datetime, until: datetime) -> list[Span]:
    """Every window, freeze and exception of ``target`` that overlaps ``[since, until)``."""
    windows, freezes, exceptions = calendar.applying(target)
    found: list[Span] = []
    for window in windows:
        tz = calendar.zone_of(window)
        day = since.astimezone(tz).date() - timedelta(days=1)
        while day <= until.astimezone(tz).date():
            if ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()] in window.days:
                end_day = day + timedelta(days=1) if window.end <= window.start else day
                start, end = wall_clock(day, window.start, tz), wall_clock(end_day, window.end, tz)
                if end > since and start < until:
                    found.append(Span(start, end, "window", window.name))
            day += timedelta(days=1)
    for freeze in freezes:
        found.append(Span(calendar.localize(freeze.start, freeze), calendar.localize(freeze.end, freeze),
                          "freeze", freeze.name, freeze.reason, calendar.zone_of(freeze).key))
    for extra in exceptions:
        found.append(Span(calendar.localize(extra.start, extra), calendar.localize(extra.end, extra),
                          "allow" if extra.allow else "deny", extra.name, extra.reason, calendar.zone_of(extra).key))
    return found


def state_at(found: list[Span], moment: datetime, has_windows: bool, default: str) -> tuple[bool, str]:
    """Open or closed at ``moment``, and the rule that says so."""
    for kind, is_open, label in (("deny", False, "one-off exception"), ("allow", True, "one-off exception"),
                                 ("freeze", False, "freeze")):
        span = next((s for s in found if s.kind == kind and s.covers(moment)), None)
        if span is not None:
            why = f" ({span.reason})" if span.reason else ""
            return is_open, f"{label} {span.name}{why}" + ("" if is_open else span.until())
    if has_windows:
        span = next((s for s in found if s.kind == "window" and s.covers(moment)), None)
        return (True, f"window {span.name}") if span else (False, "outside its change windows")
    return default == "open", f"no window names this host; the calendar's default is {default}"


class WindowDecision(BaseModel):
    """One host's verdict, with the window it is in or the next one it may change in."""

    host: str
    allowed: bool
    rule: str = Field(description="the rule that decided: a window, a freeze, an exception, the default")
    at: datetime
    closes_at: datetime | None = Field(default=None, description="end of the current window (open hosts)")
    next_opens: datetime | None = None
    next_closes: datetime | None = None
    timezone: str = "UTC"
    note: str = ""
    overridden: bool = False

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        here, utc = moment.astimezone(zone(self.timezone)), moment.astimezone(UTC)
        return f"{here:%a %Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)" if here.date() == utc.date() else (
            f"{here:%a %Y-%m-%d %H:%M %Z} ({utc:%a %H:%M} UTC)")

    @property
    def message(self) -> str:
        if self.allowed:
            until = f" until {self.local(self.closes_at)}" if self.closes_at else ""
            return f"{self.host}: inside {self.rule}{until}" + (" (emergency override)" if self.overridden else "")
        why = self.note or self.rule
        if self.next_opens is None:
            nxt = f"no window opens within {HORIZON.days} days; add one to the change calendar"
        else:
            nxt = f"next window {self.local(self.next_opens)} to {self.local(self.next_closes)}"
        return f"{self.host}: outside its change window ({why}); not touched; {nxt}"


def _decide(calendar: ChangeCalendar, target: Target, now: datetime, margin: timedelta) -> WindowDecision:
    windows, _, _ = calendar.applying(target)
    found = spans(calendar, target, now - timedelta(days=2), now + HORIZON)
    edges = sorted({t for s in found for t in (s.start, s.end) if now < t <= now + HORIZON})

    def is_open(moment: datetime) -> bool:
        return state_at(found, moment, bool(windows), calendar.default)[0]

    def first(after: datetime, want: bool) -> datetime | None:
        return next((t for t in edges if t > after and is_open(t) == want), None)

    tz = windows[0].timezone if len(windows) == 1 and windows[0].timezone else calendar.timezone
    opened, rule = state_at(found, now, bool(windows), calendar.default)
    decision = WindowDecision(host=target.name, allowed=opened, rule=rule, at=now, timezone=tz)
    if opened:
        decision.closes_at = first(now, False)
        if decision.closes_at is None or decision.closes_at - now >= margin:
            return decision
        decision.allowed = False
        minutes = int((decision.closes_at - now).total_seconds() // 60)
        decision.note = (f"{rule} closes at {decision.local(decision.closes_at)}, in {minutes} min, less than "
                         f"the calendar's margin of {int(margin.total_seconds() // 60)} min")
        start_from = decision.closes_at
    else:
        start_from = now
    decision.next_opens = first(start_from, True)
    if decision.next_opens is not None:
        decision.next_closes = first(decision.next_opens, False)
    return decision


class Override(BaseModel):
    """An emergency override: pushes outside windows and freezes, with a mandatory reason."""

    reason: str
    by: str = Field(default="", description="who; in team mode the gateway sets the caller's identity")

    @classmethod
    def of(cls, reason: str | None, by: str | None = None) -> Override | None:
        """``None`` when no override is asked; a blank reason is refused."""
        if reason is None:
            return None
        if len(reason.strip()) < 3:
            raise OverrideError("an emergency override needs a reason (override_reason: a ticket or why); "
                                "nothing was pushed")
        return cls(reason=reason.strip(), by=(by or "").strip())


class WindowCheck(BaseModel):
    """Every selected host's decision, the calendar it came from, and the override if any."""

    decisions: dict[str, WindowDecision]
    calendar: str = Field(default="", description="the calendar file(s); empty when none is configured")
    at: datetime
    override: Override | None = None

    def __getitem__(self, host: str) -> WindowDecision:
        return self.decisions[host]

    @property
    def allowed(self) -> list[str]:
        return [h for h, d in self.decisions.items() if d.allowed]

    @property
    def refused(self) -> list[str]:
        return [h for h, d in self.decisions.items() if not d.allowed]

    @property
    def overridden(self) -> list[str]:
        return [h for h, d in self.decisions.items() if d.overridden]

    def summary(self) -> str:
        if not self.calendar:
            return "no change calendar configured: every device may change"
        inside = len(self.allowed) - len(self.overridden)  # an overridden device is allowed, but not inside
        text = f"{inside} inside their change window, {len(self.refused)} outside"
        if self.override is not None:
            text += f", {len(self.overridden)} outside but allowed by emergency override ({self.override.reason})"
        return text


def check_targets(targets: Iterable[Target], calendar: ChangeCalendar | str | Path | None = None, *,
                  now: datetime | None = None, override: Override | None = None,
                  margin_minutes: int | None = None) -> WindowCheck:
    """Decide each target; hosts with the same applicable rules share one computation."""
    loaded = calendar if isinstance(calendar, ChangeCalendar) else load_calendar(calendar)
    moment = (now or clock()).astimezone(UTC)
    decisions: dict[str, WindowDecision] = {}
    if loaded is None:
        for target in targets:
            decisions[target.name] = WindowDecision(host=target.name, allowed=True, rule="no change calendar",
                                                    at=moment)
        return WindowCheck(decisions=decisions, at=moment, override=override)
    margin = timedelta(minutes=loaded.margin_minutes if margin_minutes is None else margin_minutes)
    cache: dict[tuple[tuple[str, ...], ...], WindowDecision] = {}
    for target in targets:
        key = tuple(tuple(e.name for e in group) for group in loaded.applying(target))
        if key not in cache:
            cache[key] = _decide(loaded, target, moment, margin)
        decision = cache[key].model_copy(update={"host": target.name})
        if not decision.allowed and override is not None:
            decision.allowed, decision.overridden = True, True
        decisions[target.name] = decision
    return WindowCheck(decisions=decisions, calendar=loaded.source, at=moment, override=override)


def check(nornir: Any, hosts: Iterable[str] | None = None, calendar: ChangeCalendar | str | Path | None = None,
          *, now: datetime | None = None, override_reason: str | None = None, override_by: str | None = None,
          margin_minutes: int | None = None) -> WindowCheck:
    """The window decision of each host of a Nornir object (or inventory path), before a push."""
    if isinstance(nornir, (str, Path)):
        from nornflow.inventory.load import load_nornir

        nornir = load_nornir(nornir)
    inventory = nornir.inventory.hosts
    names = list(inventory) if hosts is None else list(hosts)
    return check_targets((Target.of(inventory[h]) for h in names), calendar, now=now,
                         override=Override.of(override_reason, override_by), margin_minutes=margin_minutes)


class WindowGuard:
    """One calendar, override and margin for a whole push: the check before it, and per device.

    A plain object (not a model): the flow hands it to each device's task through the engine,
    in the same process, and reads back what the devices were told (:attr:`decisions`).
    """

    def __init__(self, calendar: ChangeCalendar | str | Path | None = None, override: Override | None = None,
                 margin_minutes: int | None = None) -> None:
        self.calendar = calendar if isinstance(calendar, ChangeCalendar) else load_calendar(calendar)
        self.override = override
        self.margin_minutes = margin_minutes
        self.decisions: dict[str, WindowDecision] = {}  # the per-device checks made before a first line
        self._lock = threading.Lock()

    def check(self, nornir: Any, hosts: Iterable[str] | None = None) -> WindowCheck:
        """Every selected host's decision now (:func:`clock`), with this guard's calendar and override."""
        if isinstance(nornir, (str, Path)):
            from nornflow.inventory.load import load_nornir

            nornir = load_nornir(nornir)
        inventory = nornir.inventory.hosts
        names = list(inventory) if hosts is None else list(hosts)
        return self.check_targets(Target.of(inventory[h]) for h in names)

    def check_targets(self, targets: Iterable[Target]) -> WindowCheck:
        return check_targets(targets, self.calendar, override=self.override, margin_minutes=self.margin_minutes)

    def refusal(self, host: Any) -> OutsideWindow | None:
        """Just before a device's first line: ``None`` when it may still change, else the error to raise."""
        if self.calendar is None:
            return None
        decision = self.check_targets([Target.of(host)])[host.name]
        with self._lock:
            self.decisions[host.name] = decision
        return None if decision.allowed else OutsideWindow(f"window closed before the first line: {decision.message}")

    def refused_at_push(self) -> WindowCheck:
        """The devices refused by the per-device check, as a check of their own (artifact, events)."""
        with self._lock:
            refused = {h: d for h, d in self.decisions.items() if not d.allowed}
        # an empty check reads the wall clock, not clock(): it decides nothing, so it takes no reading
        at = min((d.at for d in refused.values()), default=None) or datetime.now(UTC)
        return WindowCheck(decisions=refused, calendar=self.calendar.source if self.calendar else "", at=at,
                           override=self.override)


def upcoming(calendar: ChangeCalendar, target: Target, count: int = 5,
             now: datetime | None = None) -> list[tuple[datetime, datetime, str]]:
    """The next ``count`` open periods of ``target`` (start, end, rule), for ``nornflow windows show``."""
    moment = (now or clock()).astimezone(UTC)
    found: list[tuple[datetime, datetime, str]] = []
    while len(found) < count:
        decision = _decide(calendar, target, moment, timedelta(0))
        start = moment if decision.allowed else decision.next_opens
        end = decision.closes_at if decision.allowed else decision.next_closes
        if start is None or end is None:
            if start is not None:
                found.append((start, start + HORIZON, decision.rule))
            break
        rule = decision.rule if decision.allowed else _decide(calendar, target, start, timedelta(0)).rule
        found.append((start, end, rule))
        moment = end
    return found
