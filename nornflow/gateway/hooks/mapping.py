"""A delivery becomes one Prefect event through the hook's template, as Prefect Cloud's webhooks do.

The template is Jinja in a sandbox (:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no
attribute tricks, no mutation of what it is given) with undefined names as errors, and renders a
JSON object::

    {"event": "github.push", "resource": {"prefect.resource.id": "github.repo.{{ body.repository.full_name }}"},
     "payload": {"files": {{ body.commits | map(attribute='modified') | sum(start=[]) | tojson }}}}

It sees ``body`` (the parsed JSON body), ``headers`` (lower-case names; the credential headers are
never there), ``method`` and ``hook`` (``name``, ``style``, ``workspace``). Only ``event``,
``resource``, ``related`` and ``payload`` may be set: the gateway sets ``id`` (derived from the
body, so a retried delivery is the same event), ``occurred`` (when it arrived) and adds a related
resource ``nornflow.hook.<workspace>.<name>`` (role ``webhook``) so automations can tell where an
event came from.

Decided on what Prefect will accept: the result is validated with the Prefect server's own
``Event`` model (resource labels, name length, related resources, size) and what is sent on is
that model's canonical JSON. Event names Prefect or the gateway emit themselves (``prefect.``,
``prefect-cloud.``, ``nornflow.audit.``) are refused: a sender must not impersonate a flow run's
state change or the audit trail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from nornflow.gateway.errors import GatewayError

RESERVED_PREFIXES = ("prefect.", "prefect-cloud.", "nornflow.audit.")
_SETTABLE = frozenset({"event", "resource", "related", "payload"})
_EVENT_IDS = uuid.UUID("0b8f4c39-6a55-4f0e-9d2c-5b1e7f9a3c21")
_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


class HookMappingError(GatewayError, ValueError):
    """A delivery that the hook's template cannot turn into an event Prefect accepts; the message says why."""


def compile_template(source: str, hook: str) -> jinja2.Template:
    """The compiled template; ValueError naming the hook and the line when it does not parse."""
    try:
        return _compiled(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"hook {hook!r}: its template does not parse at line {exc.lineno}: {exc.message}") from None


@lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise HookMappingError(f"key {key!r} appears twice in one JSON object")
        seen[key] = value
    return seen


def parse_json(raw: bytes) -> Any:
    """The body as JSON (duplicate keys refused, as the gateway does for every body)."""
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except HookMappingError as exc:
        raise HookMappingError(f"the body is not acceptable JSON: {exc}") from None
    except ValueError as exc:
        raise HookMappingError(f"the body is not JSON ({exc}): configure the sender to send application/json") \
            from None


def event_id(workspace: str, hook: str, digest: str) -> str:
    """The event's id: one per (hook, body), so Prefect stores a redelivered body once."""
    return str(uuid.uuid5(_EVENT_IDS, f"{workspace}/{hook}/{digest}"))


def render(source: str, hook: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The template's JSON object; :class:`HookMappingError` when it fails or is not one."""
    try:
        text = compile_template(source, hook).render(**context)
    except SecurityError as exc:
        raise HookMappingError(f"hook {hook!r}: its template tried something the sandbox forbids: {exc}") from None
    except jinja2.TemplateError as exc:
        raise HookMappingError(f"hook {hook!r}: its template failed on this delivery: {exc} "
                               "(guard optional fields with `is defined`, or fix the template)") from None
    try:
        rendered = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, HookMappingError) as exc:
        raise HookMappingError(f"hook {hook!r}: its template did not render JSON ({exc}); quote values with "
                               f"| tojson. It rendered: {text[:200]!r}") from None
    if not isinstance(rendered, dict):
        raise HookMappingError(f"hook {hook!r}: its template rendered a {type(rendered).__name__}, not a JSON object "
                               "with event and resource")
    extra = sorted(set(rendered) - _SETTABLE)
    if extra:
        raise HookMappingError(f"hook {hook!r}: its template set {', '.join(extra)}; a hook sets only "
                               "event, resource, related and payload (the gateway sets id and occurred)")
    return rendered


def to_event(rendered: Mapping[str, Any], *, workspace: str, hook: str, digest: str,
             received: datetime | None = None) -> dict[str, Any]:
    """The event Prefect will store, validated with Prefect's own model, as the JSON to post."""
    from prefect.server.events.schemas.events import Event
    from prefect.settings import get_current_settings
    from pydantic import ValidationError

    name = rendered.get("event")
    if isinstance(name, str) and name.startswith(RESERVED_PREFIXES):
        raise HookMappingError(f"hook {hook!r}: event {name!r} is reserved (names starting "
                               f"{', '.join(RESERVED_PREFIXES)} are emitted by Prefect or the gateway only)")
    related = rendered.get("related", [])
    if not isinstance(related, list):
        raise HookMappingError(f"hook {hook!r}: related must be a list of resources, got {type(related).__name__}")
    candidate = {
        "id": event_id(workspace, hook, digest),
        "occurred": (received or datetime.now(UTC)).isoformat(),
        "event": name,
        "resource": rendered.get("resource"),
        "related": [*related, {"prefect.resource.id": f"nornflow.hook.{workspace}.{hook}",
                               "prefect.resource.role": "webhook", "prefect.resource.name": hook}],
        "payload": rendered.get("payload", {}),
    }
    try:
        event = Event.model_validate(candidate)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors())
        raise HookMappingError(f"hook {hook!r}: Prefect would refuse the event: {problems}") from None
    limit = get_current_settings().server.events.maximum_size_bytes
    if event.size_bytes > limit:
        raise HookMappingError(f"hook {hook!r}: the event is {event.size_bytes} bytes, over Prefect's limit of "
                               f"{limit}; put less of the body into the payload")
    return event.model_dump(mode="json")
