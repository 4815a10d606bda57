"""Flows a plan can use without any device: recording an incident on a failure branch.

The plan hands ``record_incident`` a bounded summary (``plan_summary``: per step its state,
counts and a few failed hosts) and a reference to the full outcome (``plan_outcome_ref``),
never the outcome itself: flow-run parameters are stored in the Prefect database, shown
in the UI and sent with every run, and host output does not belong there. The flow reads
the full outcome through the reference only when it writes the incident file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from nornflow.exceptions import PlanError
from nornflow.secrets.redaction import redact, redact_text


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def incident_markdown(title: str, plan_summary: dict[str, Any] | None, outcome_ref: str | None = None) -> str:
    """The failed steps so far with their failed hosts (as many as the summary lists) and errors."""
    summary = plan_summary or {}
    lines = [f"# Incident: {title}", "", f"recorded {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", "",
             "| step | state | failed hosts | reason |", "| --- | --- | --- | --- |"]
    header = len(lines)
    for name, step in summary.get("steps", {}).items():
        if step.get("state") != "failed":
            continue
        failed = [f"{h['host']}: {h.get('error') or ''}" for h in step.get("failed_hosts", [])]
        if step.get("failed_more"):
            failed.append(f"… and {step['failed_more']} more")
        cell = "<br>".join(_cell(f) for f in failed) or "-"
        lines.append(f"| {_cell(name)} | failed ({step.get('failed', 0)} hosts) | {cell} | "
                     f"{_cell(step.get('reason') or '')} |")
    if len(lines) == header:
        lines.append("| - | - | - | no failed step recorded |")
    if summary.get("flow_run_id"):
        lines += ["", f"Plan run: `{summary['flow_run_id']}`."]
    if outcome_ref:
        lines += ["", f"Full outcome (every host's record): `{outcome_ref}` in Prefect's result storage "
                      f"(`nornflow plan run PLAN --rerun {outcome_ref}` reruns what failed)."]
    return redact_text("\n".join(lines) + "\n")


def _failed_hosts(plan_summary: dict[str, Any], outcome_ref: str | None) -> tuple[dict[str, list[str]], str | None]:
    """Every failed host per failed step, from the full outcome; the summary's list when it cannot be read."""
    if outcome_ref:
        from nornflow.plan.store import read_outcome

        try:
            outcome = read_outcome(outcome_ref)
        except PlanError as exc:
            note = str(exc)
        else:
            return {n: s.failed_hosts for n, s in outcome.steps.items() if s.state == "failed"}, None
    else:
        note = "no outcome reference given: failed hosts as the summary lists them"
    return {n: [h["host"] for h in s.get("failed_hosts", [])]
            for n, s in plan_summary.get("steps", {}).items() if s.get("state") == "failed"}, note


@flow(name="record-incident")
def record_incident(
    title: str = "plan step failed",
    plan_summary: dict[str, Any] | None = None,
    plan_outcome_ref: str | None = None,
    incident_dir: str | None = None,
) -> dict[str, Any]:
    """Publish what failed as an artifact and an event; optionally write it to ``incident_dir``.

    ``plan_summary`` and ``plan_outcome_ref`` are filled in by the plan; the file in
    ``incident_dir`` lists every failed host, read from the full outcome.
    """
    summary = plan_summary or {}
    body = incident_markdown(title, summary, plan_outcome_ref)
    create_markdown_artifact(key="plan-incident", markdown=body, description=title)
    failed = sorted(n for n, s in summary.get("steps", {}).items() if s.get("state") == "failed")
    emit_event(event="nornflow.plan.incident", resource={"prefect.resource.id": "nornflow.plan.incident"},
               payload={"title": title, "failed_steps": failed, "plan_run_id": summary.get("flow_run_id"),
                        "outcome_ref": plan_outcome_ref})
    record: dict[str, Any] = {"title": title, "failed_steps": failed, "outcome_ref": plan_outcome_ref,
                              "markdown": body}
    if incident_dir:
        record["failed_hosts"], note = _failed_hosts(summary, plan_outcome_ref)
        if note:
            record["note"] = note
        folder = Path(incident_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"incident-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.json"
        path.write_text(json.dumps(redact(record), indent=1), encoding="utf-8")
        record["path"] = str(path)
    get_run_logger().warning("incident recorded: %s (failed steps: %s)", title, ", ".join(failed) or "none")
    return record
