"""The ``nornflow`` command: :mod:`~nornflow.cli.commands` (the parser and each command),
:mod:`~nornflow.cli.preflight` (the checks made before any server is touched) and
:mod:`~nornflow.cli.localserver` (the local Prefect server every command shares)."""

from nornflow.cli.commands import main

__all__ = ["main"]
