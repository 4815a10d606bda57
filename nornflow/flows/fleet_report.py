"""How the fleet did: per flow and per device, over a window, against the window before.

Reads the Prefect API only (flow runs, and the ``nornflow.device.run.*``, compliance and
config events the other flows emit); touches no device. Publishes the ``fleet-report``
artifacts (:mod:`nornflow.monitor.publish`): a summary with charts the UI draws, and the
flows, devices, flaky and stale-backups tables. Deployed daily in ``prefect.yaml``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client

from nornflow.monitor.history import Fetcher
from nornflow.monitor.publish import pct, publish
from nornflow.monitor.report import FleetReport, Window, build

#: Read-only health flows left out of the run counts unless asked for: a stack_health every
#: 5 minutes is 2,000 runs a week, which would bury the flows that touch the network.
HEALTH_FLOWS = ("stack_health", "fleet_report")


@flow(name="fleet_report", log_prints=True)
def fleet_report(
    window_days: float = 7.0,
    stale_backup_days: float = 7.0,
    history_days: float = 30.0,
    inventory: str | None = None,
    flows: list[str] | None = None,
    skip_flows: list[str] | None = None,
    tags: list[str] | None = None,
    backup_flow: str = "backup_configs",
    key: str = "fleet-report",
    end: datetime | None = None,
) -> FleetReport:
    """Report on the ``window_days`` before ``end`` (default: now), compared with the window before.

    ``inventory`` limits the devices to its hosts and lists those never seen; ``flows`` and
    ``tags`` limit the runs and device events to those flows and flow-run tags. Without
    ``flows``, the runs of ``skip_flows`` are left out (default: the read-only health flows
    ``stack_health`` and ``fleet_report``; ``[]`` counts every flow).
    ``history_days`` is how far back the last good backup, last config change and
    compliance state are looked up; ``stale_backup_days`` is when a backup counts as too old.
    """
    hosts = None
    if inventory:
        from nornflow.deploy.locks import inventory_hosts

        hosts = inventory_hosts(inventory)
    window = Window.ending(end or datetime.now(UTC), window_days)
    with get_client(sync_client=True) as client:
        skip = HEALTH_FLOWS if skip_flows is None else skip_flows
        history = Fetcher(client, window, flows=flows, skip_flows=skip, tags=tags, hosts=hosts,
                          history_days=history_days,
                          backup_flow=backup_flow).fetch()
    report = build(history, stale_days=stale_backup_days)
    publish(report, key=key, history_days=history_days)
    get_run_logger().info(
        "fleet report %s: %d runs (%d failed), %d devices, device success %s, %d failing every run, %d flaky, "
        "%d without a good backup in %g days; %d API calls",
        key, report.runs, report.failed_runs, len(report.devices), pct(report.device_success), len(report.failing),
        len(report.flaky), len(report.stale), stale_backup_days, report.api_calls,
    )
    return report
