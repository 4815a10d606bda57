"""Flows a plan can use without any device: recording an incident on a failure branch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from nornflow.redaction import redact, redact_text


def incident_markdown(title: str, plan_outcome: dict[str, Any] | None) -> str:
    """The failed steps so far with their failed hosts and errors, as a person reads them."""
    steps = (plan_outcome or {}).get("steps", {})
    lines = [f"# Incident: {title}", "", f"recorded {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", "",
             "| step | state | failed hosts | reason |", "| --- | --- | --- | --- |"]
    for name, step in steps.items():
        if step.get("state") != "failed":
            continue
        failed = [f"{r['host']}: {r.get('error') or ''}" for r in step.get("records", [])
                  if r.get("status") == "failed"]
        cell = "<br>".join(failed[:20]).replace("|", "\\|") or "-"
        lines.append(f"| {name} | failed | {cell} | {(step.get('reason') or '').replace('|', '/')} |")
    if len(lines) == 6:
        lines.append("| - | - | - | no failed step recorded |")
    return redact_text("\n".join(lines) + "\n")


@flow(name="record-incident")
def record_incident(
    title: str = "plan step failed",
    plan_outcome: dict[str, Any] | None = None,
    incident_dir: str | None = None,
) -> dict[str, Any]:
    """Publish what failed as an artifact and an event; optionally write it to ``incident_dir``."""
    body = incident_markdown(title, plan_outcome)
    create_markdown_artifact(key="plan-incident", markdown=body, description=title)
    failed = sorted(n for n, s in (plan_outcome or {}).get("steps", {}).items() if s.get("state") == "failed")
    emit_event(event="nornflow.plan.incident", resource={"prefect.resource.id": "nornflow.plan.incident"},
               payload={"title": title, "failed_steps": failed})
    record = {"title": title, "failed_steps": failed, "markdown": body}
    if incident_dir:
        folder = Path(incident_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"incident-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.json"
        path.write_text(json.dumps(redact(record), indent=1), encoding="utf-8")
        record["path"] = str(path)
    get_run_logger().warning("incident recorded: %s (failed steps: %s)", title, ", ".join(failed) or "none")
    return record
