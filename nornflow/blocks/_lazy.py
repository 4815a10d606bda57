"""Deferred import of a backend's fetch module, so importing a block never loads an SDK."""

from __future__ import annotations

import importlib
from types import ModuleType

from nornflow.exceptions import SecretBackendNotInstalled


def backend_module(name: str, extra: str, sdk: str) -> ModuleType:
    """Import ``nornflow.secrets.<name>``; a missing SDK becomes the exact install hint."""
    try:
        return importlib.import_module(f"nornflow.secrets.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("nornflow"):
            raise
        raise SecretBackendNotInstalled(
            f"the {name} secrets backend needs {sdk}, which is not installed: "
            f"pip install 'nornflow-netops[{extra}]'"
        ) from None
