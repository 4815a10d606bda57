"""The fleet report as Prefect artifacts: a summary with charts, and tables to sort and search.

Keys (``<key>`` is ``fleet-report`` unless the flow is given another, e.g. per team):

- ``<key>``: markdown: the headline numbers, charts (drawn by the UI: SVG data-URL
  images), the devices that failed every run and those without a recent good backup;
- ``<key>-flows``: per flow and deployment: runs, success rate, p50/p95 and their trends;
- ``<key>-devices``: per device, worst first: success rate, last failure and why, age of
  the last good backup, last config change, compliance state;
- ``<key>-flaky``: the ten flakiest devices; ``<key>-stale-backups``: no good backup in N days.

Everything passes through redaction before it leaves the process.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from nornflow.monitor import charts, svg
from nornflow.monitor.report import DeviceRow, FleetReport
from nornflow.secrets.redaction import redact, redact_text

#: Devices listed by name in the summary's lists (the tables hold them all).
LIST_LIMIT = 50


#: Shown for "no runs to compute it from" ("-" would render as a list bullet in the UI's tables).
NONE = "n/a"
#: The "why" column is cut here; the device's event carries the whole reason. It is the last column:
#: the UI's table does not wrap, so a long reason anywhere else pushed the columns after it off screen.
WHY_CHARS = 120


def pct(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f}%"


def seconds(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def age(days: float | None, history_days: float) -> str:
    if days is None:
        return f"none in {history_days:g} d"
    return f"{days * 24:.1f} h" if days < 2 else f"{days:.1f} d"


def flow_table(report: FleetReport) -> list[dict[str, object]]:
    return [
        {"flow": r.flow, "deployment": r.deployment or "", "runs": r.runs, "failed": r.failed,
         "success": pct(r.success), "success_trend": r.success_trend, "p50": seconds(r.p50),
         "p50_trend": r.p50_trend, "p95": seconds(r.p95), "p95_trend": r.p95_trend,
         "runs_before": r.prev_runs, "success_before": pct(r.prev_success)}
        for r in report.flows
    ]


def device_table(rows: list[DeviceRow], history_days: float) -> list[dict[str, object]]:
    def why(text: str | None) -> str:
        text = (text or "").replace("\n", " ")
        return text if len(text) <= WHY_CHARS else text[: WHY_CHARS - 1] + "…"

    return [
        {"device": d.host, "success": pct(d.success), "runs": d.runs, "ok": d.ok, "failed": d.failed,
         "last_good_backup": age(d.backup_age_days, history_days),
         "last_config_change": when(d.last_change), "compliance": d.compliance or "unknown",
         "last_failure": when(d.last_failure), "failed_in": d.last_failure_flow or "",
         "success_before": pct(d.prev_success), "why": why(d.last_error)}
        for d in rows
    ]


def days_text(days: float) -> str:
    """``1 day``, ``2.5 days``."""
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def _age_buckets(report: FleetReport, history_days: float) -> list[tuple[str, float, str, str]]:
    """Devices per age of their last good backup, cut where the stale table cuts (``stale_days``).

    The buckets below ``stale_days`` are green (the last of them amber when there are several),
    the one from ``stale_days`` on is red and holds exactly the devices the stale table lists with
    an age, and the devices without any good backup in the history come last.
    """
    stale = report.stale_days
    limits = sorted({limit for limit in (1.0, 3.0) if limit < stale} | {stale})
    labels = [f"< {days_text(limits[0])}"]
    labels += [f"{low:g}-{days_text(high)}" for low, high in itertools.pairwise(limits)]
    colours = [svg.OK] * len(limits)
    if len(limits) > 1:
        colours[-1] = svg.WARN
    counts = [0] * (len(limits) + 1)
    unknown = 0
    for d in report.devices:
        if d.backup_age_days is None:
            unknown += 1
            continue
        counts[next((i for i, limit in enumerate(limits) if d.backup_age_days < limit), len(limits))] += 1
    rows = [(label, float(n), colour, str(n)) for label, colour, n in zip(labels, colours, counts, strict=False)]
    rows.append((f">= {days_text(stale)} (stale)", float(counts[-1]), svg.FAILED, str(counts[-1])))
    rows.append((f"none in {days_text(history_days)}", float(unknown), svg.FAILED, str(unknown)))
    return rows


def summary_markdown(report: FleetReport, history_days: float) -> str:
    w = report.window
    flows = report.flows[:15]
    images = [
        charts.daily("Device runs per day", report.daily, boundary=w.start),
        charts.paired_bars("Success rate per flow", [(_name(r.flow, r.deployment), r.success, r.prev_success)
                                                    for r in flows], pct, scale=1.0),
        charts.paired_bars("p95 duration per flow", [(_name(r.flow, r.deployment), r.p95, r.prev_p95)
                                                    for r in flows], seconds, colour=svg.WARN),
        charts.bars("Ten flakiest devices (share of failed runs)",
                    [(d.host, d.failed / d.runs, svg.FAILED, f"{d.failed}/{d.runs} failed") for d in report.flaky],
                    scale=1.0, empty="no device failed some runs and succeeded others"),
        charts.bars("Devices by age of their last good backup", _age_buckets(report, history_days)),
    ]
    alts = ["device runs per day", "success rate per flow", "p95 duration per flow", "flakiest devices",
            "backup ages"]
    lines = [
        f"# Fleet report: {when(w.start)} to {when(w.end)} ({w.days:g} days)", "",
        "| runs | failed | device runs | device ok | devices | always failing | flaky "
        f"| no backup {report.stale_days:g} d |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report.runs} | {report.failed_runs} | {sum(d.runs for d in report.devices)} | "
        f"{pct(report.device_success)} | {len(report.devices)} | {len(report.failing)} | "
        f"{sum(d.flaky for d in report.devices)} | {len(report.stale)} |", "",
    ]
    for alt, image in zip(alts, images, strict=True):
        lines += [svg.markdown_image(alt, image), ""]
    lines += _listing(f"Devices that failed every run ({len(report.failing)})", [
        f"**{d.host}**: {d.failed} of {d.runs} failed; last in {d.last_failure_flow or '?'} at "
        f"{when(d.last_failure)}: {d.last_error or 'no reason recorded'}" for d in report.failing])
    lines += _listing(f"No good backup in {report.stale_days:g} days ({len(report.stale)})", [
        f"**{d.host}**: {age(d.backup_age_days, history_days)}" for d in report.stale])
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    lines.append(f"_{report.api_calls} Prefect API calls; tables: flows, devices, flaky, stale backups._")
    return "\n".join(lines)


def _name(flow: str, deployment: str | None) -> str:
    return f"{flow}/{deployment}" if deployment else flow


def _listing(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    shown = [f"- {item.replace(chr(10), ' ')}" for item in items[:LIST_LIMIT]]
    if len(items) > LIST_LIMIT:
        shown.append(f"- … and {len(items) - LIST_LIMIT} more (see the tables)")
    return [f"## {title}", "", *shown, ""]


def publish(report: FleetReport, *, key: str = "fleet-report", history_days: float = 30.0) -> None:
    """Create the report's artifacts (see the module's docstring for the keys)."""
    headline = (f"{report.runs} runs ({report.failed_runs} failed), device success {pct(report.device_success)}, "
                f"{len(report.failing)} failing, {len(report.stale)} without a backup in {report.stale_days:g} d")
    create_markdown_artifact(key=key, markdown=redact_text(summary_markdown(report, history_days)),
                             description=redact_text(headline))
    tables = {
        "flows": (flow_table(report), "per flow and deployment"),
        "devices": (device_table(report.devices, history_days), "per device, worst first"),
        "flaky": (device_table(report.flaky, history_days), "the ten flakiest devices"),
        "stale-backups": (device_table(report.stale, history_days),
                          f"devices without a good backup in {report.stale_days:g} days"),
    }
    for suffix, (rows, what) in tables.items():
        create_table_artifact(key=f"{key}-{suffix}", table=redact(rows),
                              description=redact_text(f"Fleet report {when(report.window.start)} to "
                                                      f"{when(report.window.end)}: {what}"))
