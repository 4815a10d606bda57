"""An API request read the way the workspace's Prefect server will read it, and its canonical form.

The gateway decides on what Prefect will execute, so it parses with Prefect's own code:

* the path with Starlette's route compiler and convertors, against Prefect's route templates
  (``{id:uuid}`` takes 32 hex digits, any dash dropped, either case: all name one run), and
  rebuilds it from the converted values: the id forwarded is the id decided on;
* the body as FastAPI reads it: JSON only under an ``application/json`` (or ``+json``) content
  type, duplicate keys refused (Python's parser keeps the last, a naive reader the first);
* values Prefect hydrates (``parameters`` of a run started from a deployment, ``run_input`` of a
  resume) with Prefect's ``hydrate()`` and the context the server builds (jinja rendered, workspace
  variables looked up), so ``{"__prefect_kind": "none", "value": X}`` is decided on as ``X``.

What is forwarded is re-serialised from the parsed values, and a hydrated value goes out in a
form whose hydration is the value itself (:func:`inert`): Prefect cannot read it a second way.
"""

from __future__ import annotations

import asyncio
import email.message
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from prefect.utilities.schema_tools.hydration import (
    HydrationContext,
    HydrationError,
    Placeholder,
    RemoveValue,
    WorkspaceVariable,
    hydrate,
)
from starlette.requests import Request

from nornflow.gateway.proxy.http import BadRequest


class Fetch(Protocol):
    """Read the workspace's API (a path relative to its root) as the gateway itself, not as the caller.

    ``body`` None is a GET; otherwise a POST of that JSON body, for read-only routes (``*/filter``).
    Returns (HTTP status, parsed JSON or None).
    """

    def __call__(self, path: str, body: Any = None, /) -> Awaitable[tuple[int, Any]]: ...

KIND = "__prefect_kind"
#: Hydrates to "no value": Prefect drops the key (and with it, the deployment's default for it).
REMOVED: dict[str, Any] = {KIND: "json"}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Body:
    """A request body: ``value`` as Prefect parses it (None when there is none); forwarded as :meth:`canonical`."""

    value: Any = None
    present: bool = False

    def canonical(self) -> bytes:
        """The body to forward: re-serialised from the parsed value (ASCII JSON), or nothing."""
        return json.dumps(self.value, separators=(",", ":")).encode() if self.present else b""


def is_json_type(content_type: str) -> bool:
    """FastAPI's test (``fastapi/routing.py``): application/json or application/*+json, parameters ignored."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise BadRequest(400, f"duplicate JSON key {key!r} is refused: send each key once")
        seen[key] = value
    return seen


def parse_body(raw: bytes, content_type: str) -> Body:
    """The body as Prefect's API reads it; anything it would not read as JSON is refused here."""
    if not raw:
        return Body()
    if not content_type or not is_json_type(content_type):
        raise BadRequest(415, f"content type {content_type or '(none)'!r} is not accepted by the API: "
                              "send the body as application/json")
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)  # bytes: UTF-8/16/32 detected as Starlette does
    except BadRequest:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the body is not valid JSON ({exc.__class__.__name__})") from None
    return Body(value, True)


def quote_path(path: str) -> str:
    """A decoded path as it goes on the wire (what Starlette decodes back to ``path``)."""
    return quote(path, safe=_PATH_SAFE)


# -- hydration --------------------------------------------------------------------------------------
def has_kind(value: Any) -> bool:
    """True when hydrating ``value`` could change it (it holds a ``__prefect_kind`` object somewhere)."""
    if isinstance(value, dict):
        return KIND in value or any(has_kind(v) for v in value.values())
    if isinstance(value, list):
        return any(has_kind(v) for v in value)
    return False


def inert(value: Any) -> Any:
    """``value`` in a form Prefect's hydration turns into exactly ``value`` (json kind: parsed, never re-hydrated)."""
    if isinstance(value, RemoveValue):
        return dict(REMOVED)
    return {KIND: "json", "value": json.dumps(value)} if has_kind(value) else value


def _variables_named(value: Any) -> set[str]:
    if isinstance(value, WorkspaceVariable):
        return {str(value.variable_name)}
    if isinstance(value, dict):
        return {name for v in value.values() for name in _variables_named(v)}
    if isinstance(value, list):
        return {name for v in value for name in _variables_named(v)}
    return set()


async def hydrated(value: dict[str, Any], fetch: Fetch, what: str) -> dict[str, Any]:
    """``value`` hydrated by Prefect's ``hydrate()`` as the server does (jinja rendered, variables read).

    Workspace variables are read from the server only when named; a hydration error is refused
    here with Prefect's own message (the server would answer 400 too).
    """
    if not has_kind(value):
        return value
    try:
        # Off the event loop: a template renders in Prefect's sandbox, but may still take its time.
        first = await asyncio.to_thread(hydrate, value, HydrationContext(render_jinja=True))
    except (TypeError, ValueError, RecursionError) as exc:  # e.g. an unhashable __prefect_kind: the server's 500
        raise BadRequest(400, f"{what} cannot be hydrated ({exc.__class__.__name__}): send plain JSON values") from None
    variables: dict[str, Any] = {}
    for name in sorted(_variables_named(first)):
        status, found = await fetch(f"/variables/name/{quote(name, safe='')}")
        if status == 200 and isinstance(found, dict):
            variables[name] = found.get("value")
        elif status != 404:
            raise BadRequest(503, f"cannot read workspace variable {name!r} to check {what}: try again shortly")
    context = HydrationContext(render_jinja=True, render_workspace_variables=True, workspace_variables=variables,
                               raise_on_error=True)
    try:
        result = await asyncio.to_thread(hydrate, value, context)
    except HydrationError as exc:
        raise BadRequest(400, f"error hydrating {what}: {exc}") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise BadRequest(400, f"{what} cannot be hydrated ({exc.__class__.__name__}): send plain JSON values") from None
    if _placeholders(result):
        raise BadRequest(400, f"{what} holds a value Prefect would not resolve: send plain JSON values")
    return result


def _placeholders(value: Any) -> bool:
    if isinstance(value, Placeholder):
        return True
    if isinstance(value, dict):
        return any(_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(_placeholders(v) for v in value)
    return False


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) as soon as it passes ``limit`` bytes (the settings' max_body_bytes)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"the body is larger than the gateway's limit of {limit} bytes (max_body_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"the body is larger than the gateway's limit of {limit} bytes (max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)
