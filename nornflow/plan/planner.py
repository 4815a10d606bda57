"""Validate a plan with networkx and compute its generations; decide whether a step runs.

Everything here is pure (no I/O besides checking that flow files exist), so the rules
that decide the order of a network change are unit-tested without a lab or a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import networkx as nx

from nornflow.exceptions import HostSelectionError, PlanError
from nornflow.plan.model import Condition, HostSelection, Plan, Step
from nornflow.plan.registry import FlowRegistry

StepState = Literal["pending", "completed", "failed", "skipped"]


class UnknownStepError(PlanError, LookupError):
    """A step depends on a step that the plan does not define."""


class PlanCycleError(PlanError):
    """The steps' dependencies form a cycle, so no order satisfies them."""

    def __init__(self, message: str, cycle: list[str]):
        super().__init__(message)
        self.cycle = cycle


class SelectionError(PlanError, LookupError):
    """A step's host selection matches no host of the inventory."""


@dataclass(frozen=True)
class PlannedPlan:
    """A validated plan: its dependency graph and the generations that may run in parallel."""

    plan: Plan
    graph: nx.DiGraph
    generations: list[list[str]]
    steps: dict[str, Step] = field(repr=False)

    def generation_of(self, name: str) -> int:
        for index, names in enumerate(self.generations):
            if name in names:
                return index
        raise KeyError(name)


def build_graph(plan: Plan) -> nx.DiGraph:
    """One node per step, one edge per dependency (predecessor -> dependent) with its condition."""
    graph = nx.DiGraph()
    order = {step.name: i for i, step in enumerate(plan.steps)}
    graph.add_nodes_from((step.name, {"order": order[step.name]}) for step in plan.steps)
    unknown: list[str] = []
    for step in plan.steps:
        for dep in step.depends_on:
            if dep.step not in order:
                unknown.append(f"{step.name} -> {dep.step}")
                continue
            graph.add_edge(dep.step, step.name, condition=dep.condition)
    if unknown:
        raise UnknownStepError(
            f"plan {plan.name!r}: steps depend on undefined steps ({'; '.join(unknown)}); "
            f"defined steps: {sorted(order)}"
        )
    return graph


def find_cycle(graph: nx.DiGraph) -> list[str] | None:
    """The steps of one cycle in dependency order, or None.

    ``nx.find_cycle`` over the whole graph revisits edges from every start node (seconds
    on 5,000 steps); an acyclicity check is linear, and only a cyclic graph is searched,
    inside one strongly connected component.
    """
    if nx.is_directed_acyclic_graph(graph):
        return None
    for node, _ in nx.selfloop_edges(graph):
        return [str(node)]
    component = next(c for c in nx.strongly_connected_components(graph) if len(c) > 1)
    start = min(component, key=lambda n: graph.nodes[n].get("order", 0))
    edges = nx.find_cycle(graph.subgraph(component), source=start)
    return [str(edge[0]) for edge in edges]


def validate(
    plan: Plan, registry: FlowRegistry | None = None, *, check_flows: bool = True
) -> PlannedPlan:
    """Validate ``plan`` and order it; raise a :class:`PlanError` child naming what is wrong."""
    graph = build_graph(plan)
    cycle = find_cycle(graph)
    if cycle is not None:
        loop = " -> ".join([*cycle, cycle[0]])
        raise PlanCycleError(
            f"plan {plan.name!r} has a dependency cycle: {loop} (-> means runs before); "
            f"remove one of these depends_on edges",
            cycle,
        )
    if check_flows:
        registry = registry or FlowRegistry(plan.flows)
        for step in plan.steps:
            if step.flow is not None:
                try:
                    registry.check(step.flow)
                except PlanError as exc:
                    raise type(exc)(f"step {step.name!r}: {exc}") from None
    order = nx.get_node_attributes(graph, "order")
    generations = [sorted(names, key=order.__getitem__) for names in nx.topological_generations(graph)]
    return PlannedPlan(plan, graph, generations, {s.name: s for s in plan.steps})


def condition_met(condition: Condition, state: StepState) -> bool:
    """Whether a predecessor that ended in ``state`` lets a dependent with ``condition`` run."""
    if condition == "always":
        return state != "pending"
    if condition == "success":
        return state == "completed"
    return state == "failed"


def skip_reason(step: Step, states: Mapping[str, StepState]) -> str | None:
    """Why ``step`` must not run given its predecessors' states, or None when it may run.

    Every dependency must be met (``trigger: all``, the default) or one of them
    (``trigger: any``, e.g. record an incident when any of several steps failed).
    A predecessor that failed beyond its budget leaves ``success`` dependents skipped,
    and their own dependents in turn, while branches that do not depend on it are untouched.
    """
    unmet = [
        f"{dep.step} {states.get(dep.step, 'pending')} (needs {dep.condition})"
        for dep in step.depends_on
        if not condition_met(dep.condition, states.get(dep.step, "pending"))
    ]
    if not unmet or (step.trigger == "any" and len(unmet) < len(step.depends_on)):
        return None
    return ("no condition met: " if step.trigger == "any" and len(unmet) > 1 else "condition not met: ") + (
        ", ".join(unmet)
    )


def check_selections(
    plan: Plan, select: Callable[[HostSelection | None], list[str]], *, only: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """Resolve every step's selection with ``select``; one error lists all empty selections.

    ``select`` is the inventory's matcher (``HostFilter(...).select(nr)`` at run time, a
    dict lookup in tests); it may return ``[]`` or raise :class:`HostSelectionError`.
    ``only`` limits the check to the named steps (steps that touch no host are left out).
    """
    resolved: dict[str, list[str]] = {}
    problems: list[str] = []
    wanted = None if only is None else set(only)
    for step in plan.steps:
        if wanted is not None and step.name not in wanted:
            continue
        try:
            hosts = select(step.hosts)
        except HostSelectionError as exc:
            problems.append(f"{step.name}: {exc}")
            continue
        if not hosts:
            what = step.hosts.describe() if step.hosts else "all hosts"
            problems.append(f"{step.name}: {what} matches none")
        resolved[step.name] = hosts
    if problems:
        raise SelectionError(
            f"plan {plan.name!r}: host selections match no host of the inventory; fix the selection "
            f"or the inventory:\n  " + "\n  ".join(problems)
        )
    return resolved


def waves(hosts: list[str], *, mode: str, canary: int, wave_size: int) -> list[list[str]]:
    """Split a step's hosts into the batches its mode runs one after another."""
    if mode == "parallel" or not hosts:
        return [list(hosts)] if hosts else []
    if mode == "sequential":
        return [[h] for h in hosts]
    first, rest = hosts[:canary], hosts[canary:]
    return [first] + [rest[i : i + wave_size] for i in range(0, len(rest), wave_size)]
