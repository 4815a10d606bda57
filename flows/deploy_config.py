"""Deployment entrypoint: ``flows/deploy_config.py:deploy_config`` (logic in nornflow.flows)."""

from nornflow.flows.deploy_config import deploy_config

__all__ = ["deploy_config"]

if __name__ == "__main__":
    import sys

    deploy_config(inventory=sys.argv[1], templates=sys.argv[2], dry_run="--dry-run" in sys.argv)
