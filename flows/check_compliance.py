"""Deployment entrypoint: ``flows/check_compliance.py:check_compliance`` (logic in nornflow.flows)."""

from nornflow.flows.check_compliance import check_compliance

__all__ = ["check_compliance"]

if __name__ == "__main__":
    import sys

    check_compliance(inventory=sys.argv[1], templates=sys.argv[2])
