"""Benchmark: planning (model validation + networkx checks + generations) of a 5,000-step plan.

Run: ``.venv/bin/python bench/plan.py [steps] [runs]``; prints the median of several runs.
The plan is layered like a large change: 50 generations of 100 steps, each step
depending on up to three steps of the previous layer with mixed conditions.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from nornflow.plan import Plan, validate
from nornflow.plan.render import plan_markdown, plan_text


def make_plan(size: int, width: int = 100, seed: int = 7) -> dict:
    rng = random.Random(seed)
    steps = {}
    for i in range(size):
        layer = i // width
        deps = {}
        if layer:
            for j in rng.sample(range((layer - 1) * width, layer * width), k=min(3, width)):
                deps[f"s{j}"] = rng.choice(["success", "success", "failure", "always"])
        steps[f"s{i}"] = {"task": "nornir_scrapli.tasks:send_command", "params": {"command": "show version"},
                          "hosts": {"roles": ["leaf"]}, "depends_on": deps, "mode": "waves"}
    return {"name": "bench", "steps": steps}


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    data = make_plan(size)
    load, order, total, rendering = [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        plan = Plan.from_dict(data)
        t1 = time.perf_counter()
        planned = validate(plan, check_flows=False)
        t2 = time.perf_counter()
        plan_markdown(planned)
        plan_text(planned)
        t3 = time.perf_counter()
        load.append(t1 - t0)
        order.append(t2 - t1)
        total.append(t2 - t0)
        rendering.append(t3 - t2)
    assert len(planned.generations) == -(-size // 100)
    print(f"{size} steps, {planned.graph.number_of_edges()} edges, {len(planned.generations)} generations, "
          f"median of {runs} runs:")
    print(f"  model validation   {statistics.median(load) * 1000:8.1f} ms")
    print(f"  graph + generations{statistics.median(order) * 1000:8.1f} ms")
    print(f"  planning total     {statistics.median(total) * 1000:8.1f} ms")
    print(f"  rendering (md+txt) {statistics.median(rendering) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
