"""Renderings a person reads: a picture + tables for Prefect, mermaid for GitHub, text for the terminal."""

from __future__ import annotations

from nornflow.engine.records import HostRecord
from nornflow.plan import Plan, PlanOutcome, StepOutcome, render, validate


def planned():
    return validate(Plan.from_dict({"name": "lab change", "resources": {"jump": 2}, "steps": {
        "backup": {"task": "m:f"},
        "spines": {"task": "m:f", "hosts": {"roles": "spine"}, "depends_on": "backup", "resources": "jump"},
        "leaves": {"task": "m:f", "hosts": {"roles": "leaf"}, "depends_on": "spines", "mode": "waves",
                   "canary": 1, "wave_size": 5, "failure_budget": "10%"},
        'odd "name"|x': {"task": "m:f", "depends_on": {"leaves": "failure", "backup": "always"}},
    }}), check_flows=False)


def test_markdown_has_generations_diagram_and_steps():
    assert "](data:image/svg+xml;base64," in render.plan_markdown(planned())   # the picture, for Prefect
    text = render.plan_markdown(planned(), graph="mermaid")
    assert "4 steps in 4 generations" in text
    assert "| 2 | spines |" in text
    assert "```mermaid\nflowchart LR" in text
    assert "s0 -->|success| s1" in text and "s2 -.->|failure| s3" in text and "s0 ==>|always| s3" in text
    assert "#quot;name#quot;" in text                     # quotes cannot break the diagram
    assert 'odd "name"\\|x' in text                       # nor pipes the table
    assert "waves; canary 1, waves of 5; budget 10%" in text
    assert "`jump` = 2" in text


def test_outcome_table_and_colours():
    p = planned()
    steps = {n: StepOutcome(name=n, state="completed") for n in p.steps}
    steps["leaves"] = StepOutcome(name="leaves", state="failed", reason="2 of 4 hosts failed", records=[
        HostRecord(host="l1", status="failed", duration=0),
        HostRecord(host="l2", status="skipped", duration=0)])
    outcome = PlanOutcome(plan=p.plan, steps=steps)
    assert "](data:image/svg+xml;base64," in render.outcome_markdown(p, outcome)
    text = render.outcome_markdown(p, outcome, graph="mermaid")
    assert "| leaves | **FAILED** | 0 | 1 | 1 |" in text
    assert "failed: l1" in text
    assert "class s2 failed" in text
    terminal = render.outcome_text(p, outcome)
    assert "leaves" in terminal and "2 of 4 hosts failed" in terminal


def test_terminal_shows_generations():
    text = render.plan_text(planned())
    assert text.splitlines()[0] == "plan lab change: 4 steps in 4 generations"
    assert "generation 3 (1 in parallel)\n  leaves" in text
    assert "after: leaves (failure), backup (always)" in text


def test_state_marks_are_words_and_hostless_steps_say_so():
    p = planned()
    outcome = PlanOutcome(plan=p.plan, state="failed", steps={
        name: StepOutcome(name=name, state=state) for name, state in
        zip(p.steps, ("completed", "completed", "failed", "skipped"), strict=True)})
    text = render.outcome_markdown(p, outcome, graph="mermaid", hostless={'odd "name"|x'})
    assert "| backup | completed |" in text and "| leaves | **FAILED** |" in text and "| *skipped* |" in text
    assert not any(ord(c) > 0x2000 and c not in "…" for c in text), "no emoji: boxes without an emoji font"
    table = render.plan_markdown(p, graph="mermaid", hostless={'odd "name"|x'})
    assert "| no hosts (runs once) |" in table and "no hosts (runs once)" in render.mermaid(p, None, {'odd "name"|x'})
