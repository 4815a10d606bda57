"""Helpers for the monitoring tests: labs with host names no other test uses, events read back.

Every lab here gets a site name of its own (``m1a2b-spine-01``...), so the device events,
fleet reports and health checks of one test never count another test's devices, although
all share the session's Prefect server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


def unique_site() -> str:
    return "m" + uuid.uuid4().hex[:5]


@pytest.fixture
def site_lab(nornflow_lab_factory: Callable[..., Any]) -> Callable[..., Any]:
    """``site_lab(size)``: a lab whose hosts are named after a site of its own."""

    def make(size: int = 3, **kwargs: Any) -> Any:
        return nornflow_lab_factory(size=size, sites=[unique_site()], **kwargs)

    return make


def read_events(*, names: list[str] | None = None, prefix: str | None = None, resource: str | None = None,
                resource_prefix: str | None = None, since: datetime | None = None,
                related: str | None = None) -> list[Any]:
    """Every stored event that matches (all pages), newest first."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventRelatedFilter,
        EventResourceFilter,
    )

    occurred = EventOccurredFilter.model_validate({"since": since or datetime.now(UTC) - timedelta(hours=1),
                                                   "until": datetime.now(UTC) + timedelta(minutes=5)})
    flt = EventFilter(
        occurred=occurred,
        event=EventNameFilter(name=names, prefix=[prefix] if prefix else None) if names or prefix else None,
        resource=EventResourceFilter(id=[resource] if resource else None,
                                     id_prefix=[resource_prefix] if resource_prefix else None),
        related=EventRelatedFilter(id=[related]) if related else None,
    )
    with get_client(sync_client=True) as client:
        page = client.read_events(filter=flt, limit=50)
        found = list(page.events)
        while page.next_page:
            page = client.read_events_page(page.next_page)
            found.extend(page.events)
    return found


def wait_for_events(count: int, timeout: float = 60.0, **query: Any) -> list[Any]:
    """Poll until at least ``count`` events match (the server stores them a moment after they arrive)."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=15)
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = read_events(**query)
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"expected {count} event(s) matching {query}, found {len(found)}: "
                         f"{[(e.event, e.resource.id) for e in found]}")
