"""Deployment entrypoint: ``flows/backup_configs.py:backup_configs`` (logic in nornflow.flows)."""

from nornflow.flows.backup_configs import backup_configs

__all__ = ["backup_configs"]

if __name__ == "__main__":
    import sys

    backup_configs(inventory=sys.argv[1], backup_dir=sys.argv[2] if len(sys.argv) > 2 else "backups")
