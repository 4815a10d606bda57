"""Deferred import of a backend's fetch module, so importing a block never loads an SDK."""

from __future__ import annotations

import importlib
from types import ModuleType

from nornflow.exceptions import SecretBackendNotInstalled


def backend_module(name: str, extra: str | None, sdk: str) -> ModuleType:
    """Import ``nornflow.secrets.<name>``; a missing SDK becomes the exact install hint.

    The import is by name, so a block never imports its fetch module and the arrow between
    the two stays one way: ``nornflow.secrets.<name>`` names the block only for typing.
    ``extra`` is None when the SDK is no extra of ours (httpx comes with Prefect).
    """
    try:
        return importlib.import_module(f"nornflow.secrets.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("nornflow"):
            raise
        install = f"pip install 'nornflow-netops[{extra}]'" if extra else f"pip install {sdk}"
        raise SecretBackendNotInstalled(
            f"the {name} secrets backend needs {sdk}, which is not installed: {install}"
        ) from None
