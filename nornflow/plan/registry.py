"""The flow registry: the names a plan's ``flow:`` may use, and how each is loaded.

A name maps to ``path/to/file.py:function`` (resolved against the working directory,
then the repository that holds this package) or to ``package.module:attribute``.
Third-party packages add names through the ``nornflow.flows`` entry-point group; a
plan adds its own under ``flows:``. Each registry is its own dict, never shared state.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from nornflow.exceptions import PlanError

ENTRY_POINT_GROUP = "nornflow.flows"
_REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_FLOWS: dict[str, str] = {
    "backup_configs": "nornflow.flows.backup_configs:backup_configs",
    "check_compliance": "nornflow.flows.check_compliance:check_compliance",
    "deploy_config": "nornflow.flows.deploy_config:deploy_config",
    "show_commands": "nornflow.flows.show_commands:show_commands",
    "record_incident": "nornflow.plan.builtin:record_incident",
}

_loaded: dict[str, Any] = {}


class UnknownFlowError(PlanError, LookupError):
    """A step names a flow that the registry does not know, or whose target cannot be loaded."""


def _resolve_file(path: str) -> Path | None:
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.exists() else None
    for base in (Path.cwd(), _REPO_ROOT):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    return None


def _is_file_ref(ref: str) -> bool:
    return ref.split(":", 1)[0].endswith(".py")


class FlowRegistry:
    """Names to flow references; ``load(name)`` imports the flow object once per process."""

    def __init__(self, flows: Mapping[str, str] | None = None, *, entry_point_group: str = ENTRY_POINT_GROUP):
        self._refs: dict[str, str] = dict(DEFAULT_FLOWS)
        for ep in entry_points(group=entry_point_group):
            self._refs[ep.name] = ep.value
        self._refs.update(flows or {})

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def names(self) -> list[str]:
        return sorted(self._refs)

    def reference(self, name: str) -> str:
        try:
            return self._refs[name]
        except KeyError:
            raise UnknownFlowError(
                f"flow {name!r} is not registered; known flows: {self.names()}. "
                f"Add it under flows: in the plan as '{name}: path/to/file.py:function'"
            ) from None

    def register(self, name: str, reference: str) -> None:
        if ":" not in reference:
            raise UnknownFlowError(f"flow reference {reference!r} must be 'file.py:function' or 'mod:attr'")
        self._refs[name] = reference

    def check(self, name: str) -> None:
        """Raise when the name is unknown or its file/module is missing; importing waits for ``load``."""
        ref = self.reference(name)
        target = ref.split(":", 1)[0]
        if _is_file_ref(ref):
            if _resolve_file(target) is None:
                raise UnknownFlowError(
                    f"flow {name!r} maps to {ref!r}, but that file does not exist here "
                    f"(looked in {Path.cwd()} and {_REPO_ROOT})"
                )
            return
        try:
            found = importlib.util.find_spec(target) is not None
        except ImportError:
            found = False
        if not found:
            raise UnknownFlowError(f"flow {name!r} maps to {ref!r}, but module {target!r} is not installed")

    def load(self, name: str) -> Callable[..., Any]:
        ref = self.reference(name)
        if ref not in _loaded:
            _loaded[ref] = load_reference(ref, what=f"flow {name!r}")
        return _loaded[ref]  # type: ignore[no-any-return]


def load_reference(ref: str, *, what: str) -> Any:
    """Import ``file.py:attr`` or ``module:attr`` and return the attribute."""
    target, _, attr = ref.partition(":")
    if not attr:
        raise UnknownFlowError(f"{what}: {ref!r} must be 'file.py:function' or 'package.module:function'")
    if _is_file_ref(ref):
        file = _resolve_file(target)
        if file is None:
            raise UnknownFlowError(f"{what}: file {target} does not exist (from {ref!r})")
        module_name = f"nornflow_plan_refs.{file.stem}_{abs(hash(str(file)))}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise UnknownFlowError(f"{what}: {file} cannot be imported")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception:
                del sys.modules[module_name]
                raise
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UnknownFlowError(f"{what}: module {target!r} cannot be imported ({exc})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UnknownFlowError(f"{what}: {target} has no attribute {attr!r}") from None
