"""The plan graph as a picture the Prefect UI draws: an SVG shown as a data-URL image.

Generations are columns (left to right, in the order they run); each step is a box with
what it runs, on which hosts and how; each dependency is an arrow labelled with its
condition (``success`` solid, ``failure`` dashed red, ``always`` thick blue). After a run
every box is coloured by its outcome and says how many hosts were ok, failed or skipped.
A step name too long for its box is wrapped onto up to three lines (an image has no tooltips
in the UI, so a cut name could not be read anywhere); a step whose flow takes no hosts (such as
``record_incident``) says so instead of "all hosts".
Steps within a column are ordered by where their predecessors sit, which keeps most
arrows short and uncrossed; an arrow that skips a generation runs in its own lane below
the boxes instead of through them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from nornflow.monitor import svg
from nornflow.plan.outcome import PlanOutcome
from nornflow.plan.planner import PlannedPlan

#: Above this many steps the picture is left out (the tables still list every step).
MAX_STEPS = 150

NODE_W, NODE_H = 210, 74
NAME_SIZE, NAME_LINE, NAME_LINES = 13, 15, 3
#: What a step whose flow takes no hosts and no inventory acts on (it runs once, on no device).
NO_HOSTS = "no hosts (runs once)"
COL_GAP, ROW_GAP = 90, 22
MARGIN, HEADER, LEGEND = 18, 58, 44
LANE = 16  # height of one lane for the arrows that skip generations

EDGE_STYLE = {  # condition -> (colour, width, dash)
    "success": (svg.MUTED, 1.6, None),
    "failure": (svg.FAILED, 1.6, "6 4"),
    "always": (svg.ACCENT, 3.0, None),
}
STATE_STYLE = {  # state -> (fill, stroke, dash)
    "completed": ("#e6f4ea", svg.OK, None),
    "failed": ("#fde8e8", svg.FAILED, None),
    "skipped": ("#f1f1f1", svg.NEUTRAL, "4 3"),
    "pending": ("#ffffff", svg.MUTED, None),
}


def _order(planned: PlannedPlan) -> list[list[str]]:
    """Each generation's steps, sorted by the mean row of their predecessors (one barycenter pass)."""
    rows: dict[str, float] = {}
    ordered: list[list[str]] = []
    for names in planned.generations:
        keys = {}
        for index, name in enumerate(names):
            preds = [rows[p] for p in planned.graph.predecessors(name) if p in rows]
            keys[name] = (sum(preds) / len(preds) if preds else float("inf"), index)
        column = sorted(names, key=keys.__getitem__)
        rows.update({name: float(i) for i, name in enumerate(column)})
        ordered.append(column)
    return ordered


def hosts_text(planned: PlannedPlan, name: str, hostless: Collection[str] = ()) -> str:
    """Which hosts a step acts on, as its box and the step table say it."""
    step = planned.steps[name]
    if name in hostless:
        return NO_HOSTS
    return step.hosts.describe() if step.hosts else "all hosts"


def _lines(planned: PlannedPlan, name: str, outcome: PlanOutcome | None,
           hostless: Collection[str]) -> tuple[str, list[str]]:
    step = planned.steps[name]
    hosts = hosts_text(planned, name, hostless)
    what = [f"{step.kind}: {step.target}", hosts]
    if outcome is not None and name in outcome.steps:
        s = outcome.steps[name]
        counts = [f"{n} {label}" for n, label in ((len(s.ok_hosts), "ok"), (len(s.failed_hosts), "failed"),
                                                  (len(s.skipped_hosts), "skipped")) if n]
        what.append(f"{s.state}: {', '.join(counts)}" if counts else s.state)
        return s.state, what
    what.append(step.mode)
    return "pending", what


def plan_svg(planned: PlannedPlan, outcome: PlanOutcome | None = None,
             hostless: Collection[str] = ()) -> str | None:
    """The plan graph as an SVG document; None when the plan has more than :data:`MAX_STEPS` steps.

    ``hostless``: the steps whose flow takes no hosts (the preflight knows; see ``Prepared.hostless``).
    """
    if len(planned.steps) > MAX_STEPS:
        return None
    names = {name: svg.wrap(name, NODE_W - 20, NAME_SIZE, NAME_LINES) for name in planned.steps}
    extra = (max((len(v) for v in names.values()), default=1) - 1) * NAME_LINE  # every box as tall as the tallest
    node_h = NODE_H + extra
    columns = _order(planned)
    tallest = max((len(c) for c in columns), default=1)
    generation = {name: gi for gi, column in enumerate(columns) for name in column}
    long_edges = sum(1 for a, b in planned.graph.edges() if generation[b] - generation[a] > 1)
    width = MARGIN * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * COL_GAP
    boxes_bottom = MARGIN + HEADER + tallest * node_h + (tallest - 1) * ROW_GAP
    height = boxes_bottom + (long_edges + 1) * LANE + LEGEND + MARGIN
    width = max(width, 720 if outcome is not None else 420)
    title = f"plan {planned.plan.name}: {len(planned.steps)} steps in {len(planned.generations)} generations"
    if outcome is not None:
        title += f", {outcome.state}"
    canvas = svg.Canvas(width, height, title=title)
    canvas.text(MARGIN, MARGIN + 14, svg.fit(title, width - 2 * MARGIN, 15), size=15, weight="bold")

    pos: dict[str, tuple[float, float]] = {}
    for gi, column in enumerate(columns):
        x = MARGIN + gi * (NODE_W + COL_GAP)
        offset = (tallest - len(column)) * (node_h + ROW_GAP) / 2
        canvas.text(x + NODE_W / 2, MARGIN + HEADER - 12, f"generation {gi + 1}", size=12, anchor="middle",
                    fill=svg.MUTED)
        for row, name in enumerate(column):
            pos[name] = (x, MARGIN + HEADER + offset + row * (node_h + ROW_GAP))

    _edges(canvas, planned, pos, generation, boxes_bottom + LANE, node_h)
    for name, (left, top) in pos.items():
        state, lines = _lines(planned, name, outcome, hostless)
        fill, stroke, dash = STATE_STYLE.get(state, STATE_STYLE["pending"])
        canvas.rect(left, top, NODE_W, node_h, fill=fill, stroke=stroke, rx=8, dash=dash, stroke_width=2,
                    tooltip=" / ".join([name, *lines]))
        for i, part in enumerate(names[name]):
            canvas.text(left + 10, top + 19 + i * NAME_LINE, part, size=NAME_SIZE, weight="bold")
        for i, line in enumerate(lines):
            colour = stroke if i == 2 and outcome is not None else svg.MUTED
            canvas.text(left + 10, top + 36 + extra + i * 14, svg.fit(line, NODE_W - 20, 11), size=11, fill=colour)
    _legend(canvas, height - LEGEND, outcome is not None)
    return canvas.render()


def _edges(canvas: svg.Canvas, planned: PlannedPlan, pos: dict[str, tuple[float, float]],
           generation: dict[str, int], lanes_top: float, node_h: float = NODE_H) -> None:
    """Arrows from the right side of each step to the left side of its dependents, spread per side.

    Neighbouring generations get a curve; an arrow that skips generations drops into a lane
    of its own under the boxes, runs along it and rises into its target.
    """
    outgoing: dict[str, list[str]] = defaultdict(list)
    incoming: dict[str, list[str]] = defaultdict(list)
    for src, dst in planned.graph.edges():
        outgoing[src].append(dst)
        incoming[dst].append(src)

    def port(name: str, others: list[str], other: str) -> float:
        ordered = sorted(others, key=lambda n: pos[n][1])
        return pos[name][1] + node_h * (ordered.index(other) + 1) / (len(ordered) + 1)

    labels: list[tuple[float, float, str, str, str]] = []
    for src, dst, data in planned.graph.edges(data=True):
        condition = str(data.get("condition", "success"))
        colour, width, dash = EDGE_STYLE.get(condition, EDGE_STYLE["success"])
        x1, y1 = pos[src][0] + NODE_W, port(src, outgoing[src], dst)
        x2, y2 = pos[dst][0], port(dst, incoming[dst], src)
        n = svg.num
        if generation[dst] - generation[src] > 1:
            lane = lanes_top + len([1 for *_, kind in labels if kind == "lane"]) * LANE
            d = (f"M{n(x1)},{n(y1)} L{n(x1 + 24)},{n(y1)} L{n(x1 + 24)},{n(lane)} L{n(x2 - 24)},{n(lane)} "
                 f"L{n(x2 - 24)},{n(y2)} L{n(x2 - 2)},{n(y2)}")
            label = ((x1 + x2) / 2, lane, condition, colour, "lane")
        else:
            bend = max((x2 - x1) / 2, 30)
            d = f"M{n(x1)},{n(y1)} C{n(x1 + bend)},{n(y1)} {n(x2 - bend)},{n(y2)} {n(x2 - 2)},{n(y2)}"
            label = ((x1 + x2) / 2, (y1 + y2) / 2, condition, colour, "curve")
        canvas.path(d, stroke=colour, width=width, dash=dash, arrow=canvas.arrowhead(f"arrow-{condition}", colour))
        labels.append(label)
    for x, y, condition, colour, _ in labels:  # on top of every arrow
        canvas.rect(x - 27, y - 8, 54, 15, fill="#ffffff", stroke=colour, rx=7)
        canvas.text(x, y + 3.5, condition, size=10, anchor="middle", fill=colour)


def _legend(canvas: svg.Canvas, top: float, coloured: bool) -> None:
    x = MARGIN
    y = top + 20
    for condition, (colour, width, dash) in EDGE_STYLE.items():
        canvas.line(x, y, x + 34, y, stroke=colour, width=width, dash=dash)
        canvas.text(x + 40, y + 4, f"after {condition}", size=11, fill=svg.MUTED)
        x += 130
    if coloured:
        for state in ("completed", "failed", "skipped"):
            fill, stroke, dash = STATE_STYLE[state]
            canvas.rect(x, y - 7, 22, 14, fill=fill, stroke=stroke, rx=3, dash=dash, stroke_width=2)
            canvas.text(x + 28, y + 4, state, size=11, fill=svg.MUTED)
            x += 105


def plan_image(planned: PlannedPlan, outcome: PlanOutcome | None = None, hostless: Collection[str] = ()) -> str:
    """Markdown that shows the graph in the Prefect UI, or says why there is no picture."""
    document = plan_svg(planned, outcome, hostless)
    if document is None:
        return (f"_The graph is not drawn above {MAX_STEPS} steps ({len(planned.steps)} here): "
                f"the tables list every step and what it waits for._")
    return svg.markdown_image(f"plan {planned.plan.name}", document)
