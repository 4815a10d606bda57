"""Deployment entrypoint: ``flows/stack_health.py:stack_health`` (logic in nornflow.flows)."""

from nornflow.flows.stack_health import stack_health

__all__ = ["stack_health"]

if __name__ == "__main__":
    import sys

    stack_health(inventory=sys.argv[1] if len(sys.argv) > 1 else None, backup_dirs=sys.argv[2:])
