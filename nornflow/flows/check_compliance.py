"""Check running configs against the intended ones; report drift per device, change nothing.

The ``check-compliance-devices`` table lists every device as compliant, drifted or failed;
``check-compliance-drift`` holds the diff of each drifted one; every drifted device gets a
``nornflow.compliance.drift`` event (resource ``nornflow.device.<host>``) that automations
can trigger on, every compliant one a ``nornflow.compliance.compliant`` event. The run's
reproducibility record (inventory, templates, versions...) is ``check-compliance-record``.
"""

from __future__ import annotations

from typing import Any

from prefect import State, flow, get_run_logger
from prefect.states import Completed

from nornflow.change.record import record_run
from nornflow.config import events
from nornflow.config.render import Renderer
from nornflow.config.tasks import check_config
from nornflow.engine.records import RunResult
from nornflow.engine.run import final_state, run_task
from nornflow.monitor.artifacts import diffs_markdown, publish_markdown, publish_run, publish_table

FLOW = "check-compliance"


def compliance_rows(result: RunResult) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for r in result.records:
        changes: int | str = ""
        if r.failed:
            status = "failed"
        else:
            status = "compliant" if r.data["compliant"] else "drifted"
            changes = len(r.data["lines"])
        rows.append({"host": r.host, "platform": r.platform or "", "site": r.site or "", "role": r.role or "",
                     "status": status, "lines_to_fix": changes, "error": r.error or ""})
    return rows


@flow(name="check_compliance", log_prints=True)
def check_compliance(
    inventory: str,
    templates: str,
    hosts: dict[str, Any] | None = None,
    sections: list[str] | None = None,
    failure_budget: int | str | None = None,
    max_sessions: int = 100,
    session_limits: list[str] | None = None,
    changed_templates: list[str] | None = None,
) -> State:
    """Compare each selected device's running config with its intended one (``sections`` only, if given).

    ``changed_templates`` (paths relative to ``templates``, e.g. from a git push through a gateway hook)
    narrows the selection to the devices whose intended config renders from any of them
    (:meth:`Renderer.sources`: the template used, what it includes or extends, and a more specific
    one that was added or removed). Drift does not fail the run (it is the finding); devices that
    cannot be checked do.
    """
    renderer = Renderer(templates)
    if changed_templates is not None:
        from nornflow.inventory.load import HostFilter, load_nornir

        nr = load_nornir(inventory)
        selected = set(HostFilter.coerce(hosts).select(nr))
        names = renderer.hosts_using([h for n, h in nr.inventory.hosts.items() if n in selected], changed_templates)
        get_run_logger().info("templates changed: %s; devices rendering from them: %s",
                              ", ".join(changed_templates) or "none", ", ".join(names) or "none")
        if not names:
            return Completed(message=f"no device renders from {', '.join(changed_templates) or 'no template'}: "
                                     "nothing to check")
        hosts = {"names": names}
    result = run_task(check_config, nornir=inventory, hosts=hosts, name="check_compliance",
                      task_kwargs={"templates": templates, "sections": sections}, max_sessions=max_sessions,
                      session_limits=session_limits or ())
    drifted = {r.host: r.data["diff"] for r in result.records if r.ok and not r.data["compliant"]}
    compliant = [r.host for r in result.records if r.ok and r.data["compliant"]]
    for host in drifted:
        record = result[host]
        events.emit_device_event(events.DRIFT, host, lines=len(record.data["lines"]), sections=sections,
                                 platform=record.platform, site=record.site)
    for host in compliant:  # the fleet report reads each device's compliance state from these two
        record = result[host]
        events.emit_device_event(events.COMPLIANT, host, sections=sections, platform=record.platform,
                                 site=record.site)
    for record in result.records:
        if record.ok:
            record.changed = False
            record.data = {"compliant": record.data["compliant"], "lines": record.data["lines"]}
    scope = ", ".join(sections) if sections else "whole configuration"
    note = f"{len(compliant)} compliant, {len(drifted)} drifted, {len(result.failed_hosts)} failed ({scope})"
    get_run_logger().info("compliance: %s%s", note, f"; drifted: {', '.join(drifted)}" if drifted else "")
    publish_table(FLOW, "devices", compliance_rows(result), note)
    publish_markdown(FLOW, "drift", diffs_markdown(drifted, f"Drift from intended config ({scope})",
                                                   "Every checked device matches its intended config."), note)
    publish_run(result, FLOW, extra=[note])
    record_run("check_compliance", FLOW, inventory=inventory, templates=templates)
    state = final_state(result, failure_budget)
    state.message = f"{note} | {state.message}"
    return state
