"""A window check as a person reads it (artifact), and as automations see it (events).

The override is recorded three ways: in the ``<flow>-window`` artifact of the run, in a
``nornflow.change.override`` event per overridden device (reason, who, the rule it broke),
and in the run's reproducibility record (:mod:`nornflow.change.record`).
"""

from __future__ import annotations

from prefect.events import emit_event

from nornflow.change.windows import WindowCheck
from nornflow.engine.records import HostRecord
from nornflow.secrets.redaction import redact_text

OVERRIDE = "nornflow.change.override"
OUTSIDE = "nornflow.change.outside-window"


def window_markdown(verdict: WindowCheck, title: str = "Change windows") -> str:
    lines = [f"## {title}", "", f"Calendar: `{verdict.calendar or 'none configured'}`; checked at "
             f"{verdict.at:%Y-%m-%d %H:%M} UTC: {verdict.summary()}.", ""]
    if verdict.override is not None:
        lines += [f"**Emergency override** by {verdict.override.by or '(not given)'}: {verdict.override.reason}", ""]
    lines += ["| host | decision | rule | window closes | next window |", "|---|---|---|---|---|"]
    for host, d in verdict.decisions.items():
        state = "override" if d.overridden else "inside" if d.allowed else "outside"
        nxt = "" if d.allowed and not d.overridden else f"{d.local(d.next_opens)} to {d.local(d.next_closes)}"
        lines.append(f"| {host} | {state} | {(d.note or d.rule).replace('|', '/')} | "
                     f"{d.local(d.closes_at) if d.allowed else '-'} | {nxt} |")
    return redact_text("\n".join(lines))


def publish_window(verdict: WindowCheck, flow_key: str) -> None:
    """The ``<flow_key>-window`` artifact, and the override/outside events."""
    from prefect.artifacts import create_markdown_artifact

    from nornflow.monitor.artifacts import artifact_key

    create_markdown_artifact(key=artifact_key(f"{flow_key}-window"), markdown=window_markdown(verdict),
                             description=f"change windows: {verdict.summary()}")
    emit_window_events(verdict)


def emit_window_events(verdict: WindowCheck) -> None:
    for host, d in verdict.decisions.items():
        resource = {"prefect.resource.id": f"nornflow.device.{host}", "prefect.resource.name": host}
        if d.overridden and verdict.override is not None:
            emit_event(event=OVERRIDE, resource=resource, payload={
                "host": host, "reason": redact_text(verdict.override.reason), "by": verdict.override.by,
                "rule": d.note or d.rule, "calendar": verdict.calendar})
        elif not d.allowed:
            emit_event(event=OUTSIDE, resource=resource, payload={
                "host": host, "rule": d.note or d.rule, "message": d.message,
                "next_opens": d.next_opens.isoformat() if d.next_opens else None})


def outside_records(verdict: WindowCheck, lines: dict[str, int] | None = None) -> list[HostRecord]:
    """Skipped records for the refused hosts: the error is the next-window message."""
    records = []
    for host in verdict.refused:
        opens = verdict[host].next_opens
        records.append(HostRecord(host=host, status="skipped", error=verdict[host].message, data={
            "outcome": "outside-window", "lines": (lines or {}).get(host, 0),
            "next_window": opens.isoformat() if opens else None}))
    return records


def gate(nornir: object, hosts: list[str], calendar: str | None, override_reason: str | None,
         override_by: str | None, flow_key: str) -> WindowCheck:
    """Check ``hosts`` against the calendar before a push, publish the decision, return it."""
    from nornflow.change.windows import check

    verdict = check(nornir, hosts, calendar, override_reason=override_reason, override_by=override_by)
    publish_window(verdict, flow_key)
    return verdict
