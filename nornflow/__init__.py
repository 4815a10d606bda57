"""NornFlow NetOps: reusable Prefect flows that run Nornir tasks on network devices.

    from nornflow import run_task, HostFilter, load_nornir
    from nornflow.flows import backup_configs, show_commands

Importing it applies NornFlow's Prefect defaults (:data:`nornflow.settings.PREFECT_DEFAULTS`:
no server telemetry, a longer start-up timeout for the embedded server) to every variable the
user has not set, so a script that imports the library runs like the ``nornflow`` CLI.
"""

from nornflow.engine.records import HostRecord, RunResult
from nornflow.exceptions import (
    FailureBudgetExceeded,
    HostSelectionError,
    InventoryError,
    NornFlowError,
)
from nornflow.inventory.load import HostFilter, load_nornir
from nornflow.settings import apply_prefect_defaults

apply_prefect_defaults()  # nothing above imports Prefect (a unit test keeps it so)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The engine imports Prefect; load it only when asked for.
    if name in ("run_task", "final_state"):
        from nornflow.engine import run as engine

        return getattr(engine, name)
    raise AttributeError(name)


__all__ = [
    "FailureBudgetExceeded",
    "HostFilter",
    "HostRecord",
    "HostSelectionError",
    "InventoryError",
    "NornFlowError",
    "RunResult",
    "final_state",
    "load_nornir",
    "run_task",
]
