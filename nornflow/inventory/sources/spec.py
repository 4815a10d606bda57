"""What an inventory source file (or URL) says: which server, which token, which devices.

A flow's ``inventory`` parameter names a SimpleInventory directory, or one of these::

    # nautobot.yaml
    source: nautobot                      # or netbox
    url: https://nautobot.example.com     # the server's root, without /api
    token: "secret:nornflow-vault/prod:nautobot#token"   # a reference, never the token
    filters: {locations: [fra], roles: [spine], tags: [core], statuses: [Active]}

    nautobot+https://nautobot.example.com/?token=secret:secret/nautobot-token&location=fra&role=spine

(in the URL form, write a reference's ``#key`` as ``%23key``). Filters use the source's own
names (Nautobot location, role, platform, tag and status names; NetBox slugs) because they go
into the API query: OR within a field, AND across fields, the same as ``HostFilter``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from nornflow.inventory.sources.exceptions import SourceError
from nornflow.secrets.reference import SYNTAX, is_reference
from nornflow.utilities.yamlfile import load_yaml

URL_SCHEMES = ("nautobot", "netbox")
_SOURCE_LINE = re.compile(r"^source:[ \t]*['\"]?[A-Za-z]", re.MULTILINE)
#: Fields under ``defaults`` that hold secrets: only references are accepted there.
SECRET_FIELDS = ("password", "auth_secondary")


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class SourceFilters(BaseModel):
    """Which devices to read, pushed down into the API query."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    locations: list[str] = Field(default_factory=list, validation_alias=AliasChoices("locations", "sites"),
                                 description="Nautobot location names (with their children) / NetBox site slugs")
    roles: list[str] = Field(default_factory=list, description="device role names (NetBox: slugs)")
    platforms: list[str] = Field(default_factory=list, description="the source's platform names (NetBox: slugs)")
    tags: list[str] = Field(default_factory=list, description="tag names (NetBox: slugs)")
    statuses: list[str] = Field(default_factory=list, description="device status names, e.g. Active")
    names: list[str] = Field(default_factory=list, description="device names")

    @field_validator("*", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _as_list(value)

    def describe(self) -> str:
        return " & ".join(f"{k}={','.join(v)}" for k, v in self.model_dump().items() if v) or "all devices"


class SourceSpec(BaseModel):
    """One source of truth and how its devices become Nornir hosts."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="nautobot or netbox (or a source a package registers)")
    url: str = Field(description="the server's root URL, e.g. https://nautobot.example.com")
    token: str | list[str] = Field(description=f"a secret reference to the API token: {SYNTAX}")
    api: str | None = Field(None, description="nautobot: graphql (default, fewer bytes) or rest; netbox: rest")
    filters: SourceFilters = Field(default_factory=SourceFilters)
    page_size: int = Field(500, ge=1, le=1000, description="devices per request")
    workers: int = Field(4, ge=1, le=16, description="REST pages fetched at once")
    timeout: float = Field(60.0, gt=0, description="seconds to wait for one page")
    verify: bool | str = Field(True, description="TLS: verify (true), do not (false), or a CA bundle path")
    context_key: str = Field("nornflow", description="the config-context key holding port/credentials/data")
    port_field: str = Field("nornflow_port", description="custom field holding the SSH port")
    credentials_field: str = Field("nornflow_credentials", description="custom field holding credential references")
    platform_map: dict[str, str] = Field(default_factory=dict,
                                         description="source platform (driver, slug or name) -> Nornir platform")
    defaults: dict[str, Any] = Field(default_factory=dict,
                                     description="Nornir defaults for every host (connection_options, data, ...)")
    origin: str = Field("", exclude=True, description="where this spec came from, for messages")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"url {value!r} must start with http:// or https:// and name a host")
        return value.rstrip("/").removesuffix("/api")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | list[str]) -> str | list[str]:
        if not is_reference(value):
            raise ValueError(f"token must be a secret reference ({SYNTAX}), not the token itself; "
                             "save the token in a secrets block and put its reference here")
        return value

    @field_validator("defaults")
    @classmethod
    def _defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - {"username", "password", "port", "platform", "connection_options", "data"}
        if unknown:
            raise ValueError(f"defaults has unknown keys {sorted(unknown)}; put custom values under data:")
        for name, options in (value.get("connection_options") or {}).items():
            bad = sorted(set(options or {}) - {"hostname", "port", "username", "password", "platform", "extras"}) \
                if isinstance(options, dict) else ["(not a mapping)"]
            if bad:
                raise ValueError(f"defaults connection_options.{name} has unknown keys {bad}")
        for where, item in _secret_fields(value):
            if item is not None and not is_reference(item):
                raise ValueError(f"defaults {where} holds a plain value where a secret reference is expected "
                                 f"({SYNTAX})")
        return value

    @property
    def kind(self) -> str:
        """``Nautobot``, ``NetBox``: how messages name the product."""
        return {"netbox": "NetBox"}.get(self.source, self.source.capitalize())

    @property
    def label(self) -> str:
        """``Nautobot at https://...``: how messages name the server."""
        return f"{self.kind} at {self.url}"

    @property
    def where(self) -> str:
        return self.origin or "the inventory source"


def _secret_fields(defaults: dict[str, Any]) -> list[tuple[str, Any]]:
    found = [("password", defaults.get("password"))]
    for name, options in (defaults.get("connection_options") or {}).items():
        if isinstance(options, dict):
            found.append((f"connection_options.{name}.password", options.get("password")))
            extras = options.get("extras") or {}
            found.append((f"connection_options.{name}.extras.auth_secondary", extras.get("auth_secondary")))
    return found


def build_spec(data: Any, origin: str) -> SourceSpec:
    """Validate a mapping as a :class:`SourceSpec`; errors name ``origin`` and the field, never a value."""
    if not isinstance(data, dict):
        raise SourceError(f"inventory source {origin}: expected a mapping (source:, url:, token:, filters:), "
                          f"found {type(data).__name__}")
    try:
        return SourceSpec.model_validate({**data, "origin": origin})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise SourceError(f"inventory source {origin}: {problems}") from None


def spec_from_url(text: str) -> SourceSpec:
    """``nautobot+https://host/?token=<reference>&location=a,b&role=..&platform=..&tag=..&status=..&name=..``."""
    scheme, _, rest = text.partition("+")
    parts = urlsplit(rest)
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    origin = f"{scheme}+{shown}"
    if parts.fragment:
        raise SourceError(f"inventory source {origin}: a '#' ends the URL; write a reference's #key as %23key")
    query = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    options = {k: query.pop(k) for k in ("token", "api", "page_size", "workers", "timeout", "verify") if k in query}
    names = {"location": "locations", "site": "locations", "role": "roles", "platform": "platforms",
             "tag": "tags", "status": "statuses", "name": "names"}
    unknown = sorted(set(query) - set(names))
    if unknown:
        raise SourceError(f"inventory source {origin}: unknown query parameters {unknown}; "
                          f"use token, {', '.join(sorted(names))}, api, page_size, workers, timeout, verify")
    filters = {names[k]: v for k, v in query.items()}
    return build_spec({"source": scheme, "url": shown, **options, "filters": filters}, origin)


def source_spec(inventory: str | Path) -> SourceSpec | None:
    """The source an ``inventory`` argument names, or None when it is a SimpleInventory."""
    text = str(inventory)
    if any(text.startswith(f"{scheme}+http") for scheme in URL_SCHEMES):
        return spec_from_url(text)
    path = Path(inventory).expanduser()
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return None
    try:
        head = path.read_text(encoding="utf-8")
    except OSError:
        return None  # the SimpleInventory loader names the unreadable file
    if not _SOURCE_LINE.search(head):
        return None
    data = load_yaml(path, "inventory source", SourceError)
    if not isinstance(data, dict) or not isinstance(data.get("source"), str):
        return None  # a hosts file with a host called "source"
    return build_spec(data, str(path))
