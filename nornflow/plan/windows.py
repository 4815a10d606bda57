"""Change windows inside a plan: stop before a generation or a wave whose hosts' window is closed.

A step writes to devices when it says ``change: true`` or runs ``deploy_config``. Before each
generation, the hosts of its changing steps are checked against the plan's change calendar
(with the calendar's ``margin_minutes``, so a window about to close counts as closed); when
any is outside, that generation and every later one are skipped with the reason, and the
run can be resumed in the next window with the existing rerun (``--rerun plan-NAME-outcome``).
The same check runs before each wave after the first of a changing step.

The plan's ``override_reason`` is its emergency override: the checks still run, and every host
they would have refused goes ahead, recorded. A check that refuses or overrides a host publishes
the ``plan-<name>-window`` artifact (``plan-step-<step>-window`` for a wave) and the
``nornflow.change.outside-window`` / ``nornflow.change.override`` event per host, as
``deploy_config`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nornflow.change.calendar import calendar_path
from nornflow.change.report import publish_window
from nornflow.change.windows import WindowCheck, check
from nornflow.plan.model import Plan, Step

#: Registered flows that push to devices: their steps are change steps unless they say otherwise.
WRITERS = frozenset({"deploy_config"})


def is_change(step: Step) -> bool:
    return step.change if step.change is not None else step.flow in WRITERS


def calendar_of(plan: Plan) -> str | None:
    """The plan's calendar, resolved as every flow resolves one (the plan's, else the environment's)."""
    return calendar_path(plan.change_calendar)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "plan"


def _refusal(verdict: WindowCheck) -> str | None:
    if not verdict.refused:
        return None
    first = verdict[verdict.refused[0]]
    more = f" (and {len(verdict.refused) - 1} more host(s))" if len(verdict.refused) > 1 else ""
    return f"change window: {first.message}{more}"


def _published(verdict: WindowCheck, key: str, publish: bool) -> WindowCheck:
    """Publish a check that refused or overrode a host (artifact and events); return it."""
    if publish and (verdict.refused or verdict.overridden):
        publish_window(verdict, key)
    return verdict


def generation_stop(plan: Plan, steps: list[Step], hosts: dict[str, list[str] | None], inventory: str | None,
                    where: str, *, publish: bool = True) -> str | None:
    """Why the generation must not start (``where`` says which), or ``None`` when every host may change."""
    changes = [s for s in steps if is_change(s)]
    calendar = calendar_of(plan)
    if not changes or calendar is None or not inventory:
        return None
    names: set[str] | None = set()
    for step in changes:
        selected = hosts.get(step.name)
        if selected is None:
            names = None
            break
        names = (names or set()) | set(selected)
    verdict = check(inventory, sorted(names) if names is not None else None, calendar,
                    override_reason=plan.override_reason, override_by=plan.override_by)
    reason = _refusal(_published(verdict, f"plan-{_key(plan.name)}", publish))
    if reason is None:
        return None
    return (f"plan stopped before {where}: {reason}; resume in the next window with "
            f"`nornflow plan run FILE --rerun plan-<name>-outcome` (nothing of this generation ran)")


def wave_gate(step: Step, inventory: str | None, calendar: str | None, override_reason: str | None = None,
              override_by: str | None = None, *, publish: bool = True) -> Callable[[list[str]], str | None] | None:
    """A check for :func:`nornflow.plan.steps.run_waves` to call before each later wave, or ``None``.

    ``override_reason`` (the plan's) lets refused hosts go ahead, recorded.
    """
    calendar = calendar_path(calendar)
    if not is_change(step) or calendar is None or not inventory:
        return None

    def gate(batch: list[str]) -> str | None:
        verdict = check(inventory, batch, calendar, override_reason=override_reason, override_by=override_by)
        return _refusal(_published(verdict, f"plan-step-{_key(step.name)}", publish))

    return gate
