"""Show a plan to a person: a picture and tables for Prefect, mermaid or text for elsewhere.

The markdown holds a generations table first, then the graph, then one row per step with
its options. In a Prefect artifact the graph is a picture (:mod:`nornflow.plan.picture`:
an SVG as a data-URL image, the one form the Prefect UI draws); ``nornflow plan show
--markdown`` writes mermaid instead, which GitHub and GitLab draw (success edges solid,
failure edges dotted, always edges thick).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from nornflow.plan.model import Step
from nornflow.plan.outcome import PlanOutcome
from nornflow.plan.picture import hosts_text, plan_image
from nornflow.plan.planner import PlannedPlan

Graph = Literal["picture", "mermaid"]

_EDGE = {"success": "-->", "failure": "-.->", "always": "==>"}
#: A step's state as the table shows it: words, bold when it needs a look (an emoji mark is an empty
#: box on a machine without an emoji font, and a colour alone says nothing to a screen reader).
_STATE_TEXT = {"completed": "completed", "failed": "**FAILED**", "skipped": "*skipped*", "pending": "pending"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def describe_options(step: Step) -> str:
    parts: list[str] = [step.mode]
    if step.mode == "waves":
        parts.append(f"canary {step.canary}, waves of {step.wave_size}")
    if step.failure_budget is not None:
        parts.append(f"budget {step.failure_budget}")
    if step.retries:
        parts.append(f"retries {step.retries}")
    if step.timeout:
        parts.append(f"timeout {step.timeout:g}s")
    if step.resources:
        parts.append("limits " + ",".join(step.resources))
    if step.trigger == "any":
        parts.append("after any")
    return "; ".join(parts)


def describe_deps(step: Step) -> str:
    return ", ".join(
        d.step if d.condition == "success" else f"{d.step} ({d.condition})" for d in step.depends_on
    ) or "-"


def mermaid(planned: PlannedPlan, outcome: PlanOutcome | None = None, hostless: Collection[str] = ()) -> str:
    """A left-to-right flowchart, one subgraph per generation; states colour the nodes."""
    ids = {name: f"s{i}" for i, name in enumerate(planned.steps)}
    lines = ["flowchart LR"]
    for index, names in enumerate(planned.generations, start=1):
        lines.append(f'  subgraph g{index}["generation {index}"]')
        for name in names:
            step = planned.steps[name]
            hosts = hosts_text(planned, name, hostless)
            label = "<br/>".join(_label(t) for t in (name, f"{step.kind}: {step.target}", hosts, step.mode))
            lines.append(f'    {ids[name]}["{label}"]')
        lines.append("  end")
    for src, dst, data in planned.graph.edges(data=True):
        condition = data["condition"]
        lines.append(f"  {ids[src]} {_EDGE[condition]}|{condition}| {ids[dst]}")
    if outcome is not None:
        lines += [
            "  classDef completed fill:#d4f7d4,stroke:#2a8a2a",
            "  classDef failed fill:#f9d0d0,stroke:#b02020",
            "  classDef skipped fill:#eeeeee,stroke:#888888,stroke-dasharray:4",
        ]
        for name, step_outcome in outcome.steps.items():
            if name in ids and step_outcome.state != "pending":
                lines.append(f"  class {ids[name]} {step_outcome.state}")
    return "\n".join(lines)


def graph_markdown(planned: PlannedPlan, outcome: PlanOutcome | None = None, graph: Graph = "picture",
                   hostless: Collection[str] = ()) -> str:
    """The graph as a data-URL picture (Prefect UI) or a mermaid block (GitHub, GitLab)."""
    if graph == "mermaid":
        return f"```mermaid\n{mermaid(planned, outcome, hostless)}\n```"
    return plan_image(planned, outcome, hostless)


def plan_markdown(planned: PlannedPlan, graph: Graph = "picture", hostless: Collection[str] = ()) -> str:
    """The artifact published before the run: generations, graph, step table.

    ``hostless``: steps whose flow takes no hosts (they say so instead of "all hosts").
    """
    plan = planned.plan
    out = [f"# Plan `{plan.name}`", ""]
    if plan.description:
        out += [plan.description, ""]
    out += [f"{len(planned.steps)} steps in {len(planned.generations)} generations; "
            f"steps of one generation run in parallel.", "",
            "| generation | steps |", "| --- | --- |"]
    out += [f"| {i} | {_cell(', '.join(names))} |" for i, names in enumerate(planned.generations, start=1)]
    out += ["", graph_markdown(planned, graph=graph, hostless=hostless), "",
            "| step | runs | hosts | after | options | params |", "| --- | --- | --- | --- | --- | --- |"]
    for names in planned.generations:
        for name in names:
            step = planned.steps[name]
            hosts = hosts_text(planned, name, hostless)
            params = ", ".join(f"{k}={v!r}" for k, v in step.params.items()) or "-"
            out.append(
                f"| {_cell(name)} | {step.kind} `{_cell(step.target)}` | {_cell(hosts)} | "
                f"{_cell(describe_deps(step))} | {_cell(describe_options(step))} | {_cell(params[:120])} |"
            )
    if plan.resources:
        out += ["", "Concurrency limits: " + ", ".join(f"`{k}` = {v}" for k, v in plan.resources.items())]
    return "\n".join(out) + "\n"


def outcome_markdown(planned: PlannedPlan, outcome: PlanOutcome, graph: Graph = "picture",
                     hostless: Collection[str] = ()) -> str:
    """The artifact published at the end: one row per step, then the graph coloured by outcome."""
    out = [f"# Plan `{outcome.plan.name}`: {outcome.state} in {outcome.duration:.1f} s", "",
           "| step | state | ok | failed | skipped | duration | note |",
           "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for names in planned.generations:
        for name in names:
            s = outcome.steps[name]
            note = s.reason or ("kept from the earlier run" if s.carried else "")
            if s.failed_hosts:
                more = f" and {len(s.failed_hosts) - 20} more" if len(s.failed_hosts) > 20 else ""
                note = (note + "; " if note else "") + "failed: " + ", ".join(s.failed_hosts[:20]) + more
            out.append(
                f"| {_cell(name)} | {_STATE_TEXT.get(s.state, s.state)} | {len(s.ok_hosts)} | "
                f"{len(s.failed_hosts)} | {len(s.skipped_hosts)} | {s.duration:.1f} s | {_cell(note)} |"
            )
    out += ["", graph_markdown(planned, outcome, graph, hostless)]
    return "\n".join(out) + "\n"


def plan_text(planned: PlannedPlan) -> str:
    """``nornflow plan show``: the generations, each step with what it runs and waits for."""
    plan = planned.plan
    width = max((len(n) for n in planned.steps), default=4)
    lines = [f"plan {plan.name}: {len(planned.steps)} steps in {len(planned.generations)} generations"]
    if plan.inventory:
        lines.append(f"inventory: {plan.inventory}")
    for index, names in enumerate(planned.generations, start=1):
        lines.append(f"\ngeneration {index} ({len(names)} in parallel)")
        for name in names:
            step = planned.steps[name]
            hosts = step.hosts.describe() if step.hosts else "all hosts"
            lines.append(f"  {name:<{width}}  {step.kind} {step.target}")
            lines.append(f"  {'':<{width}}  hosts: {hosts}; {describe_options(step)}")
            if step.depends_on:
                lines.append(f"  {'':<{width}}  after: {describe_deps(step)}")
    return "\n".join(lines)


def outcome_text(planned: PlannedPlan, outcome: PlanOutcome) -> str:
    """The final table for a terminal."""
    width = max((len(n) for n in planned.steps), default=4)
    lines = [f"plan {outcome.plan.name}: {outcome.state} in {outcome.duration:.1f} s",
             f"  {'step':<{width}}  {'state':<9} {'ok':>4} {'fail':>4} {'skip':>4} {'secs':>7}  note"]
    for names in planned.generations:
        for name in names:
            s = outcome.steps[name]
            lines.append(
                f"  {name:<{width}}  {s.state:<9} {len(s.ok_hosts):>4} {len(s.failed_hosts):>4} "
                f"{len(s.skipped_hosts):>4} {s.duration:>7.1f}  {s.reason or ''}"
            )
    return "\n".join(lines)
