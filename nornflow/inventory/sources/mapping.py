"""Turn a :class:`SourceDevice` into what a Nornir host needs, or into the reason it cannot be one.

Where each value comes from (the first that is set wins):

- address: ``<context_key>.hostname`` in the config context, else the primary IPv4, else IPv6;
- port: the ``nornflow_port`` custom field, else ``<context_key>.port``, else the defaults;
- platform: ``platform_map`` (by network driver, napalm driver, slug or name), else the source's
  own scrapli mapping (Nautobot's ``network_driver_mappings``), else the table below;
- credentials: the ``nornflow_credentials`` custom field, else ``<context_key>.credentials`` in
  the config context (which Nautobot merges from site, role, ... and the device's local
  context), else the defaults. Either one reference to a secret holding ``username`` and
  ``password`` keys, or ``{username, password, enable}`` each a reference (a plain username is
  accepted: it is not a secret). A plain password is refused, naming the device and the field,
  never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nornflow.exceptions import SecretReferenceError
from nornflow.inventory.sources.device import SourceDevice, SourcePlatform
from nornflow.inventory.sources.spec import SourceSpec
from nornflow.secrets.reference import FALLBACK_SEPARATOR, SYNTAX, is_reference, parse_chain

#: Source platform names (network drivers, napalm drivers, common slugs) -> Nornir/scrapli platform.
PLATFORMS: dict[str, str] = {
    **dict.fromkeys(("cisco_ios", "cisco_xe", "cisco_iosxe", "ios", "iosxe", "ios_xe", "cisco_ios_xe"),
                    "cisco_iosxe"),
    **dict.fromkeys(("arista_eos", "eos"), "arista_eos"),
    **dict.fromkeys(("juniper_junos", "junos"), "juniper_junos"),
    **dict.fromkeys(("cisco_nxos", "nxos", "nxos_ssh", "cisco_nx_os"), "cisco_nxos"),
    **dict.fromkeys(("cisco_xr", "cisco_iosxr", "iosxr", "ios_xr", "cisco_ios_xr"), "cisco_iosxr"),
}
CREDENTIAL_KEYS = ("username", "password", "enable")
Ref = str | list[str]


@dataclass
class HostEntry:
    """One Nornir host to be; ``problem`` says why it cannot run (it still exists, and fails alone)."""

    name: str
    hostname: str | None = None
    port: int | None = None
    platform: str | None = None
    username: Ref | None = None
    password: Ref | None = None
    enable: Ref | None = None
    data: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def _key(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def nornir_platform(platform: SourcePlatform, overrides: Mapping[str, str] | None = None) -> str | None:
    """The Nornir platform for a source platform, or None when nothing maps it."""
    candidates = [c for c in (platform.network_driver, platform.napalm_driver, platform.slug, platform.name) if c]
    lookup = {_key(k): v for k, v in (overrides or {}).items()}
    for candidate in candidates:
        if _key(candidate) in lookup:
            return lookup[_key(candidate)]
    if platform.scrapli:
        return platform.scrapli
    return next((PLATFORMS[_key(c)] for c in candidates if _key(c) in PLATFORMS), None)


def _check_ref(value: Any, where: str, *, plain_ok: bool = False) -> tuple[Ref | None, str | None]:
    """``(reference, None)`` or ``(None, problem)``; a problem never quotes a plain value."""
    if value is None or value == "":
        return None, None
    if isinstance(value, str) and plain_ok and not is_reference(value):
        return value, None
    if not is_reference(value):
        kind = "a plain value" if isinstance(value, str) else f"a value of type {type(value).__name__}"
        return None, (f"{where} holds {kind} where a secret reference is expected ({SYNTAX}): "
                      "store the value in a secrets backend and put its reference there")
    try:
        parse_chain(value)
    except SecretReferenceError as exc:
        return None, f"{where}: {exc}"
    return value if isinstance(value, str) else list(value), None


def _with_key(ref: str, key: str) -> str:
    return f" {FALLBACK_SEPARATOR} ".join(f"{part.strip()}#{key}" for part in ref.split(FALLBACK_SEPARATOR))


def credentials(value: Any, where: str) -> tuple[dict[str, Ref], list[str]]:
    """``{username/password/enable: reference}`` from one credentials setting, and its problems."""
    if isinstance(value, str) and is_reference(value):
        ref, problem = _check_ref(value, where)
        if problem:
            return {}, [problem]
        if any(r.key for r in parse_chain(value)):
            return {}, [f"{where} names one key (#...) of a secret: a credentials reference points at a secret "
                        "holding username and password; drop the #key, or give {username:, password:}"]
        return {"username": _with_key(value, "username"), "password": _with_key(value, "password")}, []
    if not isinstance(value, Mapping):
        _, problem = _check_ref(value, where)
        return {}, [problem or f"{where} is empty"]
    unknown = sorted(set(value) - set(CREDENTIAL_KEYS))
    problems = [f"{where} has unknown keys {unknown}; use {', '.join(CREDENTIAL_KEYS)}"] if unknown else []
    found: dict[str, Ref] = {}
    for key in CREDENTIAL_KEYS:
        ref, problem = _check_ref(value.get(key), f"{where}.{key}", plain_ok=key == "username")
        if problem:
            problems.append(problem)
        elif ref is not None:
            found[key] = ref
    return found, problems


def _port(value: Any, where: str) -> tuple[int | None, str | None]:
    if value is None or value == "":
        return None, None
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None, f"{where} {value!r} is not a port number"
    if not 0 < port < 65536:
        return None, f"{where} {port} is not 1-65535"
    return port, None


def map_device(device: SourceDevice, spec: SourceSpec) -> HostEntry:
    """The host entry for one device; every problem found is named in ``problem``, none raised."""
    key = spec.context_key
    context: Any = device.config_context.get(key) or {}
    problems: list[str] = []
    if not isinstance(context, Mapping):
        problems.append(f"config context {key} must be a mapping (port:, credentials:, data:)")
        context = {}
    user_data = context.get("data") or {}
    if not isinstance(user_data, Mapping):
        problems.append(f"config context {key}.data must be a mapping")
        user_data = {}
    entry = HostEntry(name=device.name, data={
        **user_data, "site": device.site, "role": device.role, "tags": list(device.tags), "status": device.status,
        "source": spec.source, "source_id": device.id,
        "source_platform": device.platform.name if device.platform else None,
    })
    hostname = context.get("hostname")
    if hostname is not None and not isinstance(hostname, str):
        problems.append(f"config context {key}.hostname must be a name or an address")
    entry.hostname = (hostname if isinstance(hostname, str) else None) or device.address
    if not entry.hostname and hostname is None:
        problems.append(f"has no primary IP: set one in {spec.kind}, "
                        f"or hostname: under config context {key}")
    if device.platform is None:
        problems.append("has no platform: set one whose network driver is cisco_ios, arista_eos, juniper_junos "
                        "or cisco_nxos")
    else:
        entry.platform = nornir_platform(device.platform, spec.platform_map)
        if entry.platform is None:
            problems.append(f"platform {device.platform.describe()} maps to no Nornir platform: add it to "
                            f"platform_map in {spec.where} (known: {', '.join(sorted(set(PLATFORMS.values())))})")
    field_port = device.custom_fields.get(spec.port_field)
    entry.port, problem = _port(field_port, f"custom field {spec.port_field}") if field_port not in (None, "") \
        else _port(context.get("port"), f"config context {key}.port")
    problems += [problem] if problem else []
    field_creds = device.custom_fields.get(spec.credentials_field)
    if field_creds not in (None, "", {}):
        found, bad = credentials(field_creds, f"custom field {spec.credentials_field}")
    elif context.get("credentials") is not None:
        found, bad = credentials(context["credentials"], f"config context {key}.credentials")
    else:
        found, bad = {}, []
    problems += bad
    entry.username, entry.password, entry.enable = (found.get(k) for k in CREDENTIAL_KEYS)
    if not bad and entry.password is None and spec.defaults.get("password") is None:
        problems.append(f"has no credentials: set config context {key}.credentials, custom field "
                        f"{spec.credentials_field}, or defaults.password in {spec.where}")
    if problems:
        entry.problem = f"{spec.kind} device {device.name!r}: " + "; ".join(problems)
    return entry
