"""What the Prefect API knows about past runs and devices, fetched in a few calls.

The device facts come from the ``nornflow.device.run.*`` events
(:mod:`nornflow.monitor.device_events`) and the compliance/config events, mostly through
Prefect's ``/events/count-by/resource`` endpoint, which answers "how many, and the latest
when" per device in one call whatever the fleet's size; only the last failure's reason
needs events themselves (newest first, stopping once every failing device is seen). Runs
come from ``/flow_runs/filter``, 200 per call, placed by their ``expected_start_time`` (as
the UI's run list does; a run that crashed before it started has no ``start_time``).
A report over 1,000 devices and 30 days of history (64,000 device events, 4,122 flow runs)
took 35 calls in ``bench/fleet_report.py``: 8 count-by-resource, 2 count-by-time, 21 event
pages for the failing devices' last reasons (at most ``MAX_FAILURE_PAGES``), 1 page of
runs, 2 flow lookups, 1 for the server's settings. Counting the read-only health flows too
(``skip_flows=()``: a stack_health every 5 minutes is 4,000 runs in two windows) made it 55.

Events live only as long as the server keeps them (``PREFECT_SERVER_EVENTS_RETENTION_PERIOD``,
7 days by default): keep them at least twice the report window, and as long as the backup
ages you want to see. The report says so when the server keeps less.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from nornflow.config.events import APPLIED, COMPLIANT, DRIFT
from nornflow.monitor.device_events import CHANGED, FAILED, GOOD
from nornflow.monitor.report import History, RunFact, Window
from nornflow.monitor.resources import DEVICE_PREFIX, FLOW_PREFIX

TERMINAL = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]
PAGE = 200
#: At most this many pages (50 events each) are read to find the last failures' reasons.
MAX_FAILURE_PAGES = 40


class Fetcher:
    """Reads the facts of a :class:`History` through one Prefect client, counting its API calls."""

    def __init__(self, client: Any, window: Window, *, flows: list[str] | None = None,
                 skip_flows: Iterable[str] = (), tags: list[str] | None = None, hosts: Iterable[str] | None = None,
                 history_days: float = 30.0, backup_flow: str = "backup_configs") -> None:
        self.client = client
        self.window = window
        self.flows = list(flows or [])
        self.skip_flows = set(skip_flows)
        self.tags = list(tags or [])
        self.hosts = set(hosts) if hosts is not None else None
        self.history_days = history_days
        self.backup_flow = backup_flow
        self.calls = 0

    # -- events --------------------------------------------------------------------------
    def _filter(self, names: list[str], since: datetime, until: datetime, *, flows: list[str] | None = None,
                order: str = "DESC", by_host: bool = False) -> Any:
        from prefect.events.filters import (
            EventFilter,
            EventNameFilter,
            EventOccurredFilter,
            EventOrder,
            EventRelatedFilter,
            EventResourceFilter,
        )

        related = [EventRelatedFilter(id=[f"prefect.tag.{t}"]) for t in self.tags]
        flows = self.flows if flows is None else flows
        if flows:
            related.append(EventRelatedFilter(id=[f"{FLOW_PREFIX}{f}" for f in flows]))
        # Per-device counts are narrowed to the inventory's hosts on our side (one row each); counts
        # that sum devices (per day) can only be narrowed by the server: name the devices there.
        resource = (EventResourceFilter(id=[f"{DEVICE_PREFIX}{h}" for h in sorted(self.hosts)])
                    if by_host and self.hosts is not None else EventResourceFilter(id_prefix=[DEVICE_PREFIX]))
        return EventFilter(
            occurred=EventOccurredFilter.model_validate({"since": since, "until": until}),
            event=EventNameFilter(name=names),
            resource=resource, related=related or None,
            order=EventOrder(order),
        )

    def count_by_device(self, names: list[str], since: datetime, until: datetime, *,
                        flows: list[str] | None = None) -> dict[str, tuple[int, datetime]]:
        """Per device: how many ``names`` events in ``[since, until]`` and when the latest was."""
        body = {"filter": self._filter(names, since, until, flows=flows).model_dump(mode="json"),
                "time_unit": "day", "time_interval": 1.0}
        self.calls += 1
        response = self.client.request("POST", "/events/count-by/{countable}",
                                       path_params={"countable": "resource"}, json=body)
        response.raise_for_status()
        found: dict[str, tuple[int, datetime]] = {}
        for row in response.json():
            host = str(row["value"]).removeprefix(DEVICE_PREFIX)
            if self.hosts is None or host in self.hosts:
                found[host] = (int(row["count"]), datetime.fromisoformat(row["end_time"]))
        return found

    def count_by_day(self, names: list[str], since: datetime, until: datetime) -> dict[datetime, int]:
        """Device events per day, of the inventory's devices only when the report has an inventory."""
        if self.hosts is not None and not self.hosts:
            return {}
        body = {"filter": self._filter(names, since, until, by_host=True).model_dump(mode="json"),
                "time_unit": "day", "time_interval": 1.0}
        self.calls += 1
        response = self.client.request("POST", "/events/count-by/{countable}",
                                       path_params={"countable": "time"}, json=body)
        response.raise_for_status()
        return {datetime.fromisoformat(row["start_time"]): int(row["count"]) for row in response.json()}

    def last_failures(self, history: History, failing: set[str], since: datetime) -> None:
        """The newest failure event of each ``failing`` device: when, in which flow, and why."""
        todo = set(failing)
        if not todo:
            return
        self.calls += 1
        page = self.client.read_events(filter=self._filter([FAILED], since, self.window.end), limit=50)
        pages = 1
        while True:
            for event in page.events:
                host = event.resource.id.removeprefix(DEVICE_PREFIX)
                if host in todo:
                    todo.discard(host)
                    facts = history.device(host)
                    facts.last_failure = event.occurred
                    facts.last_failure_flow = event.payload.get("flow")
                    facts.last_error = event.payload.get("error")
            if not todo or not page.next_page:
                break
            if pages >= MAX_FAILURE_PAGES:
                history.notes.append(f"the reason of the last failure of {len(todo)} device(s) was not looked up "
                                     f"(more than {pages * 50} failures in the period)")
                break
            self.calls += 1
            pages += 1
            page = self.client.read_events_page(page.next_page)

    # -- runs ----------------------------------------------------------------------------
    def runs(self, since: datetime, until: datetime) -> list[RunFact]:
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowFilter,
            FlowFilterId,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.sorting import FlowRunSort

        run_filter = FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime.model_validate({"after_": since, "before_": until}),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=TERMINAL)),  # type: ignore[arg-type]
            tags=FlowRunFilterTags(all_=self.tags) if self.tags else None,
        )
        flow_filter = FlowFilter(name=FlowFilterName(any_=self.flows)) if self.flows else None
        if flow_filter is None and self.skip_flows:  # the API filters names in, not out: list the others
            every: list[Any] = []
            while not every or len(every) % PAGE == 0:
                self.calls += 1
                page = self.client.read_flows(limit=PAGE, offset=len(every))
                every.extend(page)
                if not page:
                    break
            kept = [f.id for f in every if f.name not in self.skip_flows]
            flow_filter = FlowFilter(id=FlowFilterId(any_=kept))
        found: list[Any] = []
        while True:
            self.calls += 1
            page = self.client.read_flow_runs(flow_run_filter=run_filter, flow_filter=flow_filter,
                                              sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=PAGE,
                                              offset=len(found))
            found.extend(page)
            if len(page) < PAGE:
                break
        flow_ids = sorted({r.flow_id for r in found}, key=str)
        deployment_ids = sorted({r.deployment_id for r in found if r.deployment_id}, key=str)
        flows: dict[Any, str] = {}
        deployments: dict[Any, str] = {}
        if flow_ids:
            self.calls += 1
            by_id = FlowFilter(id=FlowFilterId(any_=flow_ids))
            flows = {f.id: f.name for f in self.client.read_flows(flow_filter=by_id, limit=len(flow_ids))}
        if deployment_ids:
            self.calls += 1
            deployments = {d.id: d.name for d in self.client.read_deployments(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)),
                limit=len(deployment_ids))}
        facts = []
        for run in found:
            when = run.expected_start_time or run.start_time
            if when is None:
                continue
            seconds = run.total_run_time.total_seconds() if run.total_run_time else 0.0
            if not seconds and run.end_time is not None:
                seconds = (run.end_time - run.start_time).total_seconds()
            facts.append(RunFact(flow=flows.get(run.flow_id, str(run.flow_id)),
                                 deployment=deployments.get(run.deployment_id) if run.deployment_id else None,
                                 state=run.state_type.value if run.state_type else "UNKNOWN",
                                 started=when, duration=seconds))
        return facts

    def retention(self) -> timedelta | None:
        """How long the server keeps events (None when it does not say)."""
        try:
            self.calls += 1
            response = self.client.request("GET", "/admin/settings")
            response.raise_for_status()
            days = response.json()["server"]["events"]["retention_period"]
        except Exception:
            return None
        return timedelta(seconds=float(days)) if isinstance(days, (int, float)) else _duration(days)

    # -- all of it -----------------------------------------------------------------------
    def fetch(self) -> History:
        window, previous = self.window, self.window.previous
        history = History(window=window, history_days=self.history_days)
        for host in sorted(self.hosts or ()):
            history.device(host)
        history.runs = self.runs(previous.start, window.end)
        for span, good_attr, bad_attr in ((window, "ok", "failed"), (previous, "prev_ok", "prev_failed")):
            for names, attr in ((list(GOOD), good_attr), ([FAILED], bad_attr)):
                for host, (count, _) in self.count_by_device(names, span.start, span.end).items():
                    setattr(history.device(host), attr, count)
        failing = {h for h, d in history.devices.items() if d.failed or d.prev_failed}
        self.last_failures(history, failing, previous.start)
        since = window.end - timedelta(days=self.history_days)
        for host, (_, latest) in self.count_by_device(list(GOOD), since, window.end,
                                                      flows=[self.backup_flow]).items():
            history.device(host).last_good_backup = latest
        for host, (_, latest) in self.count_by_device([CHANGED, APPLIED], since, window.end, flows=[]).items():
            history.device(host).last_change = latest
        for state, name in (("drifted", DRIFT), ("compliant", COMPLIANT)):
            for host, (_, latest) in self.count_by_device([name], since, window.end, flows=[]).items():
                facts = history.device(host)
                if facts.compliance_at is None or latest > facts.compliance_at:
                    facts.compliance, facts.compliance_at = state, latest
        good = self.count_by_day(list(GOOD), previous.start, window.end)
        bad = self.count_by_day([FAILED], previous.start, window.end)
        history.daily = [(day, good.get(day, 0), bad.get(day, 0)) for day in sorted(set(good) | set(bad))]
        kept = self.retention()
        needed = max(2 * window.days, self.history_days)
        if kept is not None and kept < timedelta(days=needed):
            history.notes.append(
                f"the Prefect server keeps events for {kept.days} day(s); this report looks {needed:g} days back, "
                f"so older device history is missing: set PREFECT_SERVER_EVENTS_RETENTION_PERIOD="
                f"P{math.ceil(needed)}D or more on the server"
            )
        history.api_calls = self.calls
        return history


def _duration(text: Any) -> timedelta | None:
    """``P7D``/``PT3600S`` (ISO 8601, as pydantic serializes a timedelta) as a timedelta."""
    try:
        from pydantic import TypeAdapter

        return TypeAdapter(timedelta).validate_python(text)
    except Exception:
        return None
