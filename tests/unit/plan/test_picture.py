"""The plan graph as a picture: generations as columns, conditions on the edges, outcome colours."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from nornflow.engine.records import HostRecord
from nornflow.monitor import svg
from nornflow.plan import Plan, PlanOutcome, StepOutcome, render, validate
from nornflow.plan.picture import MAX_STEPS, STATE_STYLE, plan_image, plan_svg

NS = "{http://www.w3.org/2000/svg}"


def planned():
    return validate(Plan.from_dict({"name": "lab change", "steps": {
        "backup": {"task": "m:f"},
        "spines": {"task": "m:f", "hosts": {"roles": "spine"}, "depends_on": "backup"},
        "leaves": {"task": "m:f", "hosts": {"roles": "leaf"}, "depends_on": "spines"},
        "rollback <x>": {"task": "m:f", "depends_on": {"leaves": "failure", "backup": "always"}},
    }}), check_flows=False)


def test_every_step_is_a_box_in_its_generation_and_every_edge_is_labelled():
    root = ET.fromstring(plan_svg(planned()))
    words = [t.text for t in root.iter(f"{NS}text")]
    for index in (1, 2, 3, 4):
        assert f"generation {index}" in words
    assert {"backup", "spines", "leaves", "rollback <x>"} <= set(words)
    assert words.count("success") == 2 and words.count("failure") == 1 and words.count("always") == 1
    paths = [p for p in root.iter(f"{NS}path") if p.get("marker-end")]
    assert len(paths) == 4
    dashed = [p for p in paths if p.get("stroke-dasharray")]
    assert len(dashed) == 1 and dashed[0].get("stroke") == svg.FAILED      # the failure edge
    # backup -> rollback skips two generations: it runs in a lane below the boxes (straight segments)
    assert sum(1 for p in paths if " L" in (p.get("d") or "")) == 1


def test_after_the_run_boxes_take_the_colour_of_their_outcome():
    p = planned()
    steps = {n: StepOutcome(name=n, state="completed", records=[HostRecord(host="a", status="ok")])
             for n in p.steps}
    steps["leaves"] = StepOutcome(name="leaves", state="failed", records=[
        HostRecord(host="l1", status="failed"), HostRecord(host="l2", status="ok")])
    steps["rollback <x>"] = StepOutcome(name="rollback <x>", state="skipped")
    root = ET.fromstring(plan_svg(p, PlanOutcome(plan=p.plan, steps=steps)))
    fills = [r.get("fill") for r in root.iter(f"{NS}rect") if r.get("rx") == "8"]
    assert fills.count(STATE_STYLE["completed"][0]) == 2
    assert fills.count(STATE_STYLE["failed"][0]) == 1 and fills.count(STATE_STYLE["skipped"][0]) == 1
    words = [t.text for t in root.iter(f"{NS}text")]
    assert "failed: 1 ok, 1 failed" in words
    assert any(w and w.startswith("plan lab change: 4 steps in 4 generations, failed") for w in words)


def test_markdown_shows_a_data_url_image_not_mermaid_and_mermaid_stays_for_the_terminal():
    p = planned()
    text = render.plan_markdown(p)
    assert "```mermaid" not in text
    match = re.search(r"!\[plan lab change\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", text)
    assert match
    ET.fromstring(base64.b64decode(match.group(1)))                      # a well-formed SVG document
    assert "```mermaid\nflowchart LR" in render.plan_markdown(p, graph="mermaid")


def test_huge_plans_say_why_there_is_no_picture():
    big = validate(Plan.from_dict({"name": "big", "steps": {f"s{i}": {"task": "m:f"}
                                                            for i in range(MAX_STEPS + 1)}}), check_flows=False)
    assert plan_svg(big) is None
    assert "not drawn above" in plan_image(big)


def test_a_long_step_name_is_wrapped_whole_and_boxes_grow_to_hold_it():
    long_name = "open_incident_and_page_the_network_on_call_team"            # 47 characters
    plan = validate(Plan.from_dict({"name": "long", "steps": {
        "backup": {"task": "m:f"},
        long_name: {"flow": "record_incident", "depends_on": {"backup": "failure"}},
    }}), check_flows=False)
    root = ET.fromstring(plan_svg(plan, hostless={long_name}))
    words = [t.text or "" for t in root.iter(f"{NS}text")]
    name_lines = [w for w in words if w and w in long_name and w != "backup"]
    assert "".join(name_lines) == long_name                    # every character is drawn, none cut off
    assert len(name_lines) >= 2 and not any(w.endswith("…") for w in name_lines)
    assert "no hosts (runs once)" in words and "all hosts" in words    # record_incident acts on no device
    boxes = [r for r in root.iter(f"{NS}rect") if r.get("rx") == "8"]
    heights = {float(r.get("height") or 0) for r in boxes}
    assert len(boxes) == 2 and len(heights) == 1 and heights.pop() > 74
    titles = [t.text for r in boxes for t in r.iter(f"{NS}title")]
    assert any(long_name in (t or "") for t in titles)        # and the full text where SVG is opened on its own


def test_wrap_breaks_at_separators_and_cuts_only_the_last_line():
    assert svg.wrap("short", 190, 13) == ["short"]
    lines = svg.wrap("verify the spines and leaves of every site", 100, 12)    # 13 characters a line
    assert lines[0] == "verify the" and len(lines) == 3 and lines[-1].endswith("…")
    assert svg.wrap("x" * 30, 100, 12, max_lines=2) == ["x" * 13, "x" * 12 + "…"]
