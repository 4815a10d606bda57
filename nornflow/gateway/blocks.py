"""Block schema and block document writes: a secret stays a secret (issue 18, item 4).

Prefect hides a block document's secret values by its schema's ``secret_fields`` alone
(``BlockDocument.from_orm_model``), and nothing in Prefect stops a caller with write access from
registering a schema without them and moving a document onto it: a plain read then returns the
value. A schema's checksum does not even see ``secret_fields`` (``Block._calculate_schema_checksum``
drops them at every depth), so the installed Secret schema with ``secret_fields: []`` and another
``version`` gets the installed checksum and is stored as a new schema. Hence these rules, decided on
the request as Prefect's own request models parse it and on what the workspace's server holds:

* ``POST /block_schemas/`` for a block type the installed code registers (Prefect's own blocks, the
  ``prefect.collections`` entry points, the collections Prefect registers from its
  ``collection_blocks_data.json``): the schema must be one the installed code registers, its
  checksum (Prefect's function) one of the type's and its secret fields covering that schema's.
  Another schema for such a type is the owner's, and its secret fields must cover those of every
  installed schema of the type and of every schema the server holds for it. For any other block
  type, a new schema's secret fields must cover those of every schema the server holds for it.
  A schema that refers to nested block schemas the server does not hold is refused: Prefect would
  create them from the request's ``definitions`` unchecked (``_register_nested_block_schemas``);
  ``Block.register_type_and_schema`` registers nested blocks first, so it never needs that.
* ``PATCH /block_documents/{id}`` with another ``block_schema_id``: the new schema must be of the
  document's block type, its secret fields must cover the current schema's (the current data stays,
  Prefect merges it), and for a block type the installed code registers it must be an installed
  schema unless the caller is the owner: the upgrade ``Block.save(overwrite=True)`` sends keeps working.
* ``POST /block_documents/``: the schema must be of the document's block type (Prefect does not
  check) and, for a block type the installed code registers, an installed schema unless the caller
  is the owner: no document is born on a weakened schema, waiting for someone to type a secret into it.
* ``DELETE /block_schemas/{id}`` is the owner's: a registered schema gone, a weaker one could follow.

No rule lets anyone, the owner included, make the secret fields of a document or a block type fewer.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import uuid
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import ValidationError

from nornflow.gateway.roles import Perm

log = logging.getLogger("nornflow.gateway")

# slug -> checksum -> the secret fields of the installed schema with that checksum
Installed = Mapping[str, Mapping[str, frozenset[str]]]

#: The routes :func:`check_block_write` decides on (the policy's display templates).
ROUTES = frozenset({"POST /block_schemas/", "DELETE /block_schemas/{id}", "PATCH /block_documents/{id}",
                    "POST /block_documents/"})

_MAX_PAGES = 100  # schemas of one block type, read a page (the server's default limit) at a time


class Fetch(Protocol):
    """Read the workspace's API (a path relative to its root) as the gateway itself, not as the caller.

    ``body`` None is a GET; otherwise a POST of that JSON body, used only for a read-only route
    (``POST /block_schemas/filter``). Returns (HTTP status, parsed JSON or None).
    """

    def __call__(self, path: str, body: Any = None, /) -> Awaitable[tuple[int, Any]]: ...


class _Refused(Exception):
    """A check failed: the message is the reason the gateway gives (403) and audits."""


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


# -- reading the server -----------------------------------------------------------------------------
def _uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


async def _read(fetch: Fetch, path: str, what: str, body: Any = None) -> Any:
    status, found = await fetch(path, body)
    if status == 404:
        raise _Refused(f"{what} not found")
    if status != 200 or found is None:
        raise _Refused(f"could not read {what} (the workspace answered {status})")
    return found


async def _slug(fetch: Fetch, block_type_id: str) -> str:
    found = await _read(fetch, f"/block_types/{block_type_id}", f"block type {block_type_id}")
    slug = found.get("slug") if isinstance(found, dict) else None
    if not isinstance(slug, str):
        raise _Refused(f"could not read block type {block_type_id}")
    return slug


def _schema(found: Any, what: str) -> Schema:
    if not isinstance(found, dict):
        raise _Refused(f"could not read {what}")
    secrets = secret_fields(found.get("fields"))
    try:
        schema = Schema(_uuid(found["id"]), _uuid(found["block_type_id"]), str(found["checksum"]),
                        secrets if secrets is not None else frozenset())
    except (KeyError, ValueError):
        raise _Refused(f"could not read {what}") from None
    if secrets is None:
        raise _Refused(f"{what} has malformed secret fields")
    return schema


async def _read_schema(fetch: Fetch, schema_id: str) -> Schema:
    what = f"block schema {schema_id}"
    return _schema(await _read(fetch, f"/block_schemas/{schema_id}", what), what)


async def _floor(fetch: Fetch, block_type_id: str) -> frozenset[str]:
    """The secret fields of every schema the server holds for the block type."""
    secrets: set[str] = set()
    offset = 0
    for _ in range(_MAX_PAGES):
        page = await _read(fetch, "/block_schemas/filter", f"the schemas of block type {block_type_id}",
                           {"block_schemas": {"block_type_id": {"any_": [block_type_id]}}, "offset": offset})
        if not isinstance(page, list):
            raise _Refused(f"could not read the schemas of block type {block_type_id}")
        if not page:
            return frozenset(secrets)
        for found in page:
            schema = _schema(found, f"a schema of block type {block_type_id}")
            if schema.block_type_id != block_type_id:
                raise _Refused(f"could not read the schemas of block type {block_type_id}")
            secrets |= schema.secrets
        offset += len(page)
    raise _Refused(f"block type {block_type_id} has too many schemas to check")


def _references(fields: Mapping[str, Any]) -> list[str]:
    """The checksums of the nested block schemas a schema's fields refer to; malformed: refused."""
    refs = fields.get("block_schema_references", {})
    if not isinstance(refs, dict):
        raise _Refused("block_schema_references must be an object")
    checksums: list[str] = []
    for value in refs.values():
        for entry in value if isinstance(value, list) else [value]:
            if not (isinstance(entry, dict) and isinstance(entry.get("block_type_slug"), str)
                    and isinstance(entry.get("block_schema_checksum"), str)):
                raise _Refused("each block schema reference needs a block_type_slug and a block_schema_checksum")
            checksums.append(entry["block_schema_checksum"])
    return checksums


# -- the checks --------------------------------------------------------------------------------------
def _parse(model: Any, body: Any, route: str) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError:
        raise _Refused(f"{route}: the body is not what Prefect accepts") from None


async def _create_schema(body: Any, owner: bool, fetch: Fetch) -> None:
    from prefect.server.schemas.actions import BlockSchemaCreate

    request = _parse(BlockSchemaCreate, body, "POST /block_schemas/")
    fields: dict[str, Any] = request.fields
    secrets = secret_fields(fields)
    if secrets is None:
        raise _Refused("secret_fields must be a list of field names")
    try:
        checksum = schema_checksum(fields)
    except Exception:  # Prefect would fail on it too
        raise _Refused("the schema's fields have no checksum") from None
    block_type_id = str(request.block_type_id)
    slug = await _slug(fetch, block_type_id)
    for reference in _references(fields):
        status, _found = await fetch(f"/block_schemas/checksum/{quote(reference, safe=':')}")
        if status != 200:
            raise _Refused(f"the nested block schema {reference} is not registered: register it first")
    installed = installed_schemas()
    needs_floor = slug not in installed or (checksum not in installed[slug] and owner)
    floor = await _floor(fetch, block_type_id) if needs_floor else None
    reason = new_schema_refusal(slug, checksum, secrets, floor, installed, owner)
    if reason:
        raise _Refused(reason)


async def _update_document(document_id: str, body: Any, owner: bool, fetch: Fetch) -> None:
    from prefect.server.schemas.actions import BlockDocumentUpdate

    request = _parse(BlockDocumentUpdate, body, "PATCH /block_documents/{id}")
    if request.block_schema_id is None:
        return
    proposed_id = str(request.block_schema_id)
    document = await _read(fetch, f"/block_documents/{document_id}", f"block document {document_id}")
    try:
        current_id = _uuid(document["block_schema_id"])
        block_type_id = _uuid(document["block_type_id"])
    except (KeyError, TypeError, ValueError):
        raise _Refused(f"could not read block document {document_id}") from None
    if proposed_id == current_id:
        return
    current = await _read_schema(fetch, current_id)
    proposed = await _read_schema(fetch, proposed_id)
    reason = schema_change_refusal(await _slug(fetch, block_type_id), current, proposed, installed_schemas(), owner)
    if reason:
        raise _Refused(reason)


async def _create_document(body: Any, owner: bool, fetch: Fetch) -> None:
    from prefect.server.schemas.actions import BlockDocumentCreate

    request = _parse(BlockDocumentCreate, body, "POST /block_documents/")
    block_type_id = str(request.block_type_id)
    schema = await _read_schema(fetch, str(request.block_schema_id))
    reason = new_document_refusal(await _slug(fetch, block_type_id), block_type_id, schema,
                                  installed_schemas(), owner)
    if reason:
        raise _Refused(reason)


async def check_block_write(method: str, route: str, params: Mapping[str, str], body: Any,
                            perms: frozenset[Perm], fetch: Fetch) -> str | None:
    """None when the block write may go to Prefect, else the reason to refuse it (403, audited).

    ``route`` is the policy's display template (``"PATCH /block_documents/{id}"``), ``params`` its
    canonical path parameters, ``body`` the parsed JSON body; routes other than the four below pass.
    ``method`` must agree with ``route``. The caller has already been granted the route's permission.
    """
    if not route.startswith(method.upper() + " "):
        return f"{method} does not match {route}"
    owner = Perm.ADMIN in perms
    try:
        if route == "DELETE /block_schemas/{id}":
            if not owner:
                return "deleting a block schema is the owner's: a weaker schema could take its place"
        elif route == "POST /block_schemas/":
            await _create_schema(body, owner, fetch)
        elif route == "PATCH /block_documents/{id}":
            await _update_document(_uuid(params["id"]), body, owner, fetch)
        elif route == "POST /block_documents/":
            await _create_document(body, owner, fetch)
    except _Refused as refused:
        return str(refused)
    except (KeyError, ValueError):
        return f"{route}: the request cannot be read"
    return None



#: Reads that answer block documents (one, or a list): their secret fields are masked again on the way out.
DOCUMENT_READS = frozenset({
    "GET /block_documents/{id}", "GET /block_types/slug/{slug}/block_documents",
    "GET /block_types/slug/{slug}/block_documents/name/{block_document_name}", "POST /block_documents/filter",
})
MASK = "********"


def _mask_path(data: Any, path: Sequence[str]) -> None:
    """Replace the value at ``path`` (``*`` meaning every key at that level) with the mask, whatever its type."""
    if not isinstance(data, dict) or not path:
        return
    head, rest = path[0], list(path[1:])
    for key in (list(data) if head == "*" else [head] if head in data else []):
        if rest and rest != ["*"]:
            _mask_path(data[key], rest)
        elif data[key] is not None:
            data[key] = MASK


def mask_documents(payload: Any) -> Any:
    """Block documents as a caller without secrets must see them: every secret field masked, nested values too.

    Prefect obfuscates a secret field only where its value is a scalar at exactly that path (it flattens
    the data first): a Secret whose value is a JSON object (``Secret(value={"k": "v"})``, which NornFlow's
    ``secret:secret/<name>#<key>`` references read) is answered in clear to every viewer. The gateway masks
    the whole value of each ``secret_fields`` entry of the document's own schema.
    """
    documents = payload if isinstance(payload, list) else [payload]
    for document in documents:
        if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
            continue
        schema = document.get("block_schema")
        fields = schema.get("fields") if isinstance(schema, dict) else None
        if not isinstance(fields, dict):  # no schema to read the secret fields from: show no value at all
            document["data"] = dict.fromkeys(document["data"], MASK)
            continue
        for secret in fields.get("secret_fields") or []:
            if isinstance(secret, str):
                _mask_path(document["data"], secret.split("."))
    return payload
