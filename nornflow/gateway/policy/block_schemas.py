"""Block schemas and their secret fields: what the installed code registers, and the pure decisions
on a schema or a document's move between schemas (the reasons are in :mod:`.blocks`, which reads the
workspace's server and applies them to a request).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace
from typing import Any

log = logging.getLogger("nornflow.gateway")

# slug -> checksum -> the secret fields of the installed schema with that checksum
Installed = Mapping[str, Mapping[str, frozenset[str]]]


# -- what the installed code registers -------------------------------------------------------------
def schema_checksum(fields: Mapping[str, Any]) -> str:
    """The checksum Prefect stores for a schema with these ``fields`` (its own function)."""
    from prefect.blocks.core import Block

    return str(Block._calculate_schema_checksum(dict(fields)))


@functools.cache
def installed_schemas() -> Installed:
    """slug -> checksum -> secret fields, of every block schema the installed code registers.

    As the Prefect server does at start (``prefect/server/api/server.py``,
    ``models/block_registration.py``): load the ``prefect.collections`` entry points, take the block
    registry, and add the collections Prefect registers from ``collection_blocks_data.json``. Only
    classes from ``prefect`` and the entry points' packages count, not whatever else the process has
    defined (a test's own Block subclass, say). Computed once.
    """
    from importlib.metadata import entry_points

    # Prefect's own blocks, as the server imports them
    import prefect.blocks.notifications
    import prefect.blocks.system
    import prefect.blocks.webhook
    import prefect.filesystems
    import prefect.plugins
    from prefect.blocks.core import Block
    from prefect.server.models.block_registration import COLLECTIONS_BLOCKS_DATA_PATH
    from prefect.utilities.dispatch import get_registry_for_type

    prefect.plugins.load_prefect_collections()
    # nornflow's block that nornflow.blocks leaves out of its (light) entry point module
    with contextlib.suppress(ImportError):
        importlib.import_module("nornflow.blocks.local")
    packages = {"prefect"} | {ep.value.split(":")[0].split(".")[0] for ep in entry_points(group="prefect.collections")}
    found: dict[str, dict[str, set[str]]] = {}

    def add(slug: str, fields: Mapping[str, Any]) -> None:
        secrets = secret_fields(fields)
        if secrets is not None:
            found.setdefault(slug, {}).setdefault(schema_checksum(fields), set()).update(secrets)
        definitions = fields.get("definitions")
        if isinstance(definitions, dict):
            for nested_slug, nested_fields in _nested_schemas(fields, definitions):
                add(nested_slug, nested_fields)

    for block_class in list((get_registry_for_type(Block) or {}).values()):
        if block_class.__module__.split(".")[0] not in packages:
            continue
        try:
            add(block_class.get_block_type_slug(), block_class.model_json_schema())
        except Exception:  # an abstract or broken class: the server cannot register it either
            log.debug("block class %r has no schema", block_class, exc_info=True)
    data = json.loads(COLLECTIONS_BLOCKS_DATA_PATH.read_text(encoding="utf-8"))
    for collection in data.get("collections", {}).values():
        for slug, block_type in collection.get("block_types", {}).items():
            schema = block_type.get("block_schema") or {}
            if isinstance(schema.get("fields"), dict):
                add(block_type.get("slug", slug), schema["fields"])
    return MappingProxyType({
        slug: MappingProxyType({checksum: frozenset(secrets) for checksum, secrets in by_checksum.items()})
        for slug, by_checksum in found.items()
    })


def _nested_schemas(fields: Mapping[str, Any], definitions: dict[str, Any],
                    depth: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """The nested schemas Prefect creates from a schema's ``definitions`` when it registers the schema
    before the nested blocks' own (``_register_nested_block_schemas``): (slug, fields for the checksum).

    The server does so at start for collections whose nested blocks come later in its list, and the
    checksum then covers the parent's definitions, so it differs from the nested block's own.
    """
    from prefect.server.models.block_schemas import _get_fields_for_child_schema

    found: list[tuple[str, dict[str, Any]]] = []
    refs = fields.get("block_schema_references")
    if depth > 20 or not isinstance(refs, dict):
        return found
    for name, value in refs.items():
        for entry in value if isinstance(value, list) else [value]:
            slug = entry.get("block_type_slug") if isinstance(entry, dict) else None
            if not isinstance(slug, str):
                continue
            try:
                child = _get_fields_for_child_schema(None, definitions, dict(fields), name,  # type: ignore[arg-type]
                                                     SimpleNamespace(slug=slug))  # type: ignore[arg-type]
            except (KeyError, TypeError, AttributeError):
                continue
            if isinstance(child, dict):
                found.append((slug, {**child, "definitions": definitions}))
                found.extend(_nested_schemas(child, definitions, depth + 1))
    return found


# -- secret fields -----------------------------------------------------------------------------------
def secret_fields(fields: Any) -> frozenset[str] | None:
    """A schema's ``secret_fields`` (absent: none), or None when they are not a list of strings."""
    if not isinstance(fields, Mapping):
        return None
    value = fields.get("secret_fields", [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return frozenset(value)


def _region(field: str) -> tuple[tuple[str, ...], bool]:
    """What Prefect hides for one secret field: a key path, or (wildcard) every key under a prefix."""
    parts = tuple(field.split("."))
    if "*" in parts:
        return parts[: parts.index("*")], True
    return parts, False


def _covered(field: str, by: Iterable[str]) -> bool:
    path, wildcard = _region(field)
    for other in by:
        prefix, other_wildcard = _region(other)
        if other_wildcard and path[: len(prefix)] == prefix:
            return True
        if not other_wildcard and not wildcard and path == prefix:
            return True
    return False


def uncovered(new: Iterable[str], old: Iterable[str]) -> list[str]:
    """The fields of ``old`` that a schema with secret fields ``new`` would no longer hide (sorted).

    Prefect hides a field ``a.b`` by exact key, and ``a.*`` hides every key under ``a``
    (``BlockDocument.from_orm_model``): ``a.*`` covers ``a.b`` and ``a.b.*``; ``a`` does not cover ``a.b``.
    """
    new_fields = list(new)
    return sorted({field for field in old if not _covered(field, new_fields)})


# -- the pure decisions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schema:
    """A block schema as the server stores it (or would store it)."""

    id: str
    block_type_id: str
    checksum: str
    secrets: frozenset[str]


def is_installed(slug: str, checksum: str, secrets: Iterable[str], installed: Installed) -> bool:
    """The schema is one the installed code registers for ``slug``: same checksum, no secret field less."""
    known = installed.get(slug, {})
    return checksum in known and not uncovered(secrets, known[checksum])


def new_schema_refusal(slug: str, checksum: str, secrets: frozenset[str], floor: frozenset[str] | None,
                       installed: Installed, owner: bool) -> str | None:
    """May a schema (``checksum``, ``secrets``) be registered for block type ``slug``?

    ``floor``: the secret fields of every schema the server holds for the type (None: not read yet,
    only allowed when the answer does not depend on it). None when allowed, else the reason.
    """
    known = installed.get(slug)
    if known is not None:
        if checksum in known:
            missing = uncovered(secrets, known[checksum])
            if missing:
                return (f"block type {slug!r}: the installed schema {checksum} hides {', '.join(missing)}; "
                        "a schema with that checksum must too")
            return None
        if not owner:
            return (f"block type {slug!r} is registered by the installed code: only its schemas "
                    f"({', '.join(sorted(known))}) may be registered, another one only by the owner")
        floor = (floor or frozenset()).union(*known.values())
    if floor is None:
        raise ValueError("the secret fields of the type's schemas are needed")
    missing = uncovered(secrets, floor)
    if missing:
        return f"block type {slug!r}: a new schema must keep the secret fields {', '.join(missing)}"
    return None


def schema_change_refusal(slug: str, current: Schema, proposed: Schema, installed: Installed,
                          owner: bool) -> str | None:
    """May a document of block type ``slug`` move from schema ``current`` to ``proposed``?"""
    if proposed.id == current.id:
        return None
    if proposed.block_type_id != current.block_type_id:
        return f"block schema {proposed.id} is not of the document's block type {slug!r}"
    missing = uncovered(proposed.secrets, current.secrets)
    if missing:
        return (f"block schema {proposed.id} would reveal the document's secret fields {', '.join(missing)}: "
                "secret fields never shrink")
    return _installed_only(slug, proposed, installed, owner, "a document may move only to")


def new_document_refusal(slug: str, block_type_id: str, schema: Schema, installed: Installed,
                         owner: bool) -> str | None:
    """May a document of block type ``slug`` (``block_type_id``) be created on ``schema``?"""
    if schema.block_type_id != block_type_id:
        return f"block schema {schema.id} is not of block type {slug!r}"
    return _installed_only(slug, schema, installed, owner, "a document may be created only on")


def _installed_only(slug: str, schema: Schema, installed: Installed, owner: bool, what: str) -> str | None:
    """For a block type the installed code registers: an installed schema, or the owner's choice of a
    schema that hides every field an installed schema of the type hides."""
    known = installed.get(slug)
    if known is None or is_installed(slug, schema.checksum, schema.secrets, installed):
        return None
    if not owner:
        return (f"block type {slug!r} is registered by the installed code: {what} an installed schema "
                "(another one: the owner)")
    missing = uncovered(schema.secrets, frozenset().union(*known.values()))
    if missing:
        return (f"block schema {schema.id} does not hide {', '.join(missing)}, "
                f"which the installed schemas of {slug!r} hide")
    return None
