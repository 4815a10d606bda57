"""Deployment entrypoint: ``flows/run_plan.py:run_plan`` (logic in nornflow.plan)."""

from nornflow.plan.flow import run_plan

__all__ = ["run_plan"]

if __name__ == "__main__":
    import sys

    run_plan(plan_file=sys.argv[1], inventory=sys.argv[2] if len(sys.argv) > 2 else None)
