"""Notification blocks and automations from a YAML spec (``deployments/automations.yaml``).

Prefect's automation actions name a notification block by id, which differs per server,
so the spec names it as ``<block-type-slug>/<name>`` and :func:`apply` resolves it after
creating the blocks the spec declares. ``${VAR}`` values come from the environment, so a
webhook URL or token never lands in git. Applying twice leaves one copy of each automation.

    python -m nornflow.deploy.automations deployments/automations.yaml
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from nornflow.exceptions import NornFlowError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class AutomationSpecError(NornFlowError, ValueError):
    """The automations file is malformed, names a missing block or an unset variable."""


def load_spec(path: str | Path) -> dict[str, Any]:
    """The spec as written (``${VAR}`` not expanded); raises naming the file when malformed."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AutomationSpecError(f"{path}: cannot read the automations file: {exc}") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("automations", []), list):
        raise AutomationSpecError(f"{path}: expected a mapping with an `automations:` list")
    return spec


def expand(value: Any, where: str, env: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` with the variable's value; an unset variable is an error naming it."""
    env = dict(os.environ) if env is None else env
    if isinstance(value, dict):
        return {k: expand(v, f"{where}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, str):
        missing = [name for name in _VAR.findall(value) if name not in env]
        if missing:
            raise AutomationSpecError(
                f"{where}: environment variable {', '.join(missing)} is not set; export it and apply again"
            )
        return _VAR.sub(lambda m: env[m.group(1)], value)
    return value


def block_refs(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(slug, name)`` an automation action names with ``block:``."""
    refs = []
    for automation in spec.get("automations", []):
        for action in automation.get("actions", []) or []:
            ref = action.get("block")
            if isinstance(ref, str):
                slug, _, name = ref.partition("/")
                refs.append((slug, name))
    return refs


def declared_blocks(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(b.get("type", ""), b.get("name", "")) for b in spec.get("notification_blocks", []) or []}


def build_automation(entry: dict[str, Any], block_ids: dict[tuple[str, str], Any]) -> Any:
    """One ``AutomationCore`` from a spec entry; ``block:`` becomes ``block_document_id``."""
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    name = entry.get("name", "<unnamed>")
    actions = []
    for action in entry.get("actions", []) or []:
        action = dict(action)
        ref = action.pop("block", None)
        if ref is not None:
            slug, _, block_name = str(ref).partition("/")
            if (slug, block_name) not in block_ids:
                raise AutomationSpecError(
                    f"automation {name!r}: block {ref!r} does not exist; declare it under "
                    f"notification_blocks or create it (prefect block create {slug})"
                )
            action["block_document_id"] = block_ids[(slug, block_name)]
        actions.append(action)
    try:
        return AutomationCore.model_validate({**entry, "actions": actions})
    except ValidationError as exc:
        raise AutomationSpecError(f"automation {name!r} is invalid: {exc}") from exc


def _save_blocks(spec: dict[str, Any], env: dict[str, str] | None) -> dict[tuple[str, str], Any]:
    from prefect.blocks.core import Block

    ids: dict[tuple[str, str], Any] = {}
    for i, entry in enumerate(spec.get("notification_blocks", []) or []):
        slug, name = entry["type"], entry["name"]
        fields = expand(entry.get("fields", {}), f"notification_blocks[{i}] ({slug}/{name})", env)
        cls = Block.get_block_class_from_key(slug)
        ids[(slug, name)] = cls(**fields).save(name, overwrite=True)
    return ids


def apply(path: str | Path, env: dict[str, str] | None = None) -> list[str]:
    """Create the blocks, then replace each automation of the same name; returns their names."""
    from prefect.blocks.core import Block
    from prefect.client.orchestration import get_client

    spec = load_spec(path)
    block_ids = _save_blocks(spec, env)
    for slug, name in block_refs(spec):
        if (slug, name) not in block_ids:
            try:
                block: Any = Block.get_block_class_from_key(slug).load(name)
                block_ids[(slug, name)] = block._block_document_id
            except (KeyError, ValueError) as exc:
                message = f"{path}: block {slug}/{name} does not exist on the server"
                raise AutomationSpecError(message) from exc
    created = []
    with get_client(sync_client=True) as client:
        for entry in spec.get("automations", []):
            automation = build_automation(expand(entry, f"automation {entry.get('name')!r}", env), block_ids)
            for old in client.read_automations_by_name(automation.name):
                client.delete_automation(old.id)
            client.create_automation(automation)
            created.append(automation.name)
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nornflow.deploy.automations", description=__doc__)
    parser.add_argument("file", nargs="?", default="deployments/automations.yaml")
    args = parser.parse_args(argv)
    try:
        names = apply(args.file)
    except NornFlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"applied {len(names)} automation(s): {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
