"""Deployment entrypoint: ``flows/show_commands.py:show_commands`` (logic in nornflow.flows)."""

from nornflow.flows.show_commands import show_commands

__all__ = ["show_commands"]

if __name__ == "__main__":
    import sys

    show_commands(inventory=sys.argv[1], commands=sys.argv[2:] or ["show version"])
