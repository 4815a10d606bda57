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

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from nornflow.gateway.policy.block_schemas import (
    Schema,
    installed_schemas,
    new_document_refusal,
    new_schema_refusal,
    schema_change_refusal,
    schema_checksum,
    secret_fields,
)
from nornflow.gateway.policy.roles import Perm
from nornflow.gateway.proxy.request import Fetch

#: The routes :func:`check_block_write` decides on (the policy's display templates).
ROUTES = frozenset({"POST /block_schemas/", "DELETE /block_schemas/{id}", "PATCH /block_documents/{id}",
                    "POST /block_documents/"})

_MAX_PAGES = 100  # schemas of one block type, read a page (the server's default limit) at a time


class _Refused(Exception):
    """A check failed: the message is the reason the gateway gives (403) and audits."""


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
