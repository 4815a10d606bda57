"""The gateway's settings: one model, read from init kwargs, NORNFLOW_* variables, .env and YAML.

Precedence, highest first: keyword arguments > environment > ``.env`` > the YAML file
(``NORNFLOW_CONFIG`` or an explicit path) > defaults. Every setting has one env name
(``NORNFLOW_PORT``) and one YAML key (``port``); :func:`load_settings` turns pydantic's
errors into one :class:`GatewaySettingsError` that names both, so a person fixes the
right place whichever one they used. One workspace's settings are
:mod:`nornflow.gateway.workspace_settings`; secrets (its upstream ``auth_string``, its
``database_url``, the values of its ``env``) are ``SecretStr`` and never echoed in a message.

The YAML is per environment, the way the change calendar does it: with ``NORNFLOW_ENV=prod``
(or ``--env prod``) the file ``gateway.prod.yaml`` beside ``gateway.yaml`` is layered over it
(its keys win; ``workspaces`` entries are merged by ``name``, field by field). The files are
``NORNFLOW_CONFIG`` / ``--config`` and its ``<stem>.<env>.yaml`` sibling, else ``gateway.yaml``
and ``gateway.<env>.yaml`` in ``NORNFLOW_CONFIG_DIR`` (default ``deployments/``), each used
when present. An error in a value that came from a file names that file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from nornflow.gateway.errors import GatewaySettingsError, UnknownWorkspaceError
from nornflow.gateway.sso.settings import SsoSettings
from nornflow.gateway.workspace_settings import WorkspaceSettings
from nornflow.utilities.yamlfile import load_yaml

ENV_PREFIX = "NORNFLOW_"
CONFIG_ENV = "NORNFLOW_CONFIG"
CONFIG_DIR_ENV = "NORNFLOW_CONFIG_DIR"
ENV_NAME = "NORNFLOW_ENV"  # the same variable the change calendar reads
DEFAULT_CONFIG_DIR = Path("deployments")
# Which YAML file the next GatewaySettings() reads; a ContextVar so concurrent loads never mix files.
_config_file: ContextVar[Path | None] = ContextVar("nornflow_gateway_config_file", default=None)
_environment: ContextVar[str | None] = ContextVar("nornflow_gateway_environment", default=None)
# (setting, [index, field]) -> the YAML file that gave it, for error messages.
_provenance: ContextVar[dict[tuple[str, ...], str] | None] = ContextVar("nornflow_gateway_provenance", default=None)
_SECRET_FIELDS = frozenset({"auth_string", "database_url", "env", "secret", "client_secret", "bind_password"})


def _names(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()} (YAML key '{field}')"


class _YamlSource(YamlConfigSettingsSource):
    """The YAML file, refusing keys that are not settings (a typo would otherwise be ignored)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        # yamlfile.load_yaml: a syntax error is one line, 'gateway config file FILE:LINE: malformed YAML (...)'
        data: Any = load_yaml(Path(file_path), "gateway config file", GatewaySettingsError) or {}
        if not isinstance(data, dict):
            raise GatewaySettingsError(f"gateway config file {str(file_path)!r} must be a mapping of settings, "
                                       f"e.g. 'port: 8780'; it holds a {type(data).__name__}")
        unknown = sorted(set(data) - set(GatewaySettings.model_fields))
        if unknown:
            raise GatewaySettingsError(f"gateway config file {str(file_path)!r}: unknown setting(s) "
                                       f"{', '.join(map(str, unknown))}; check the spelling")
        return data


class _LayeredYamlSource(_YamlSource):
    """``gateway.yaml`` with ``gateway.<env>.yaml`` over it: keys of the later file win, workspaces merge by name."""

    def _read_files(self, files: Any, deep_merge: bool = False) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        origin: dict[tuple[str, ...], str] = {}
        by_name: dict[str, dict[str, Any]] = {}
        fields: dict[str, dict[str, str]] = {}
        for file in self._existing_files(files):
            data, source = self._read_file(file), str(file)
            for key, value in data.items():
                origin[(key,)] = source
                if key != "workspaces" or not isinstance(value, list):
                    merged[key] = value
                    continue
                for entry in value:
                    if not isinstance(entry, dict) or "name" not in entry:
                        by_name[f"#{len(by_name)}"] = entry  # let validation name the bad entry
                        continue
                    name = str(entry["name"])
                    by_name[name] = {**by_name.get(name, {}), **entry}
                    fields.setdefault(name, {}).update({str(f): source for f in entry})
                merged[key] = list(by_name.values())
        for index, name in enumerate(by_name):
            for field, path in fields.get(name, {}).items():
                origin[("workspaces", str(index), field)] = path
        provenance = _provenance.get()
        if provenance is not None:
            provenance.update(origin)
        return merged


def _config_files(environment: str | None) -> list[Path]:
    """The YAML files to read, base first: see the module doc."""
    explicit = _config_file.get() or os.environ.get(CONFIG_ENV)
    env = environment or os.environ.get(ENV_NAME) or None
    if explicit:
        base = Path(explicit).expanduser()
        if not base.is_file():
            raise GatewaySettingsError(f"gateway config file {str(base)!r} (from {CONFIG_ENV} or --config) "
                                       "does not exist: create it or point to the right file")
        overlay = base.with_name(f"{base.stem}.{env}{base.suffix}") if env else None
    else:
        folder = Path(os.environ.get(CONFIG_DIR_ENV) or DEFAULT_CONFIG_DIR).expanduser()
        base = folder / "gateway.yaml"
        overlay = folder / f"gateway.{env}.yaml" if env else None
    files = [path for path in (base, overlay) if path is not None and path.is_file()]
    if environment and (overlay is None or not overlay.is_file()):
        # --env was asked for explicitly (NORNFLOW_ENV alone is shared with the change calendar: no file is fine).
        raise GatewaySettingsError(f"--env {environment}: no gateway settings file {str(overlay)!r}; create it or "
                                   f"set {CONFIG_DIR_ENV} to the folder that holds it")
    return files


def _default_workspaces() -> list[WorkspaceSettings]:
    return [WorkspaceSettings(name="default")]


class GatewaySettings(BaseSettings):
    """Everything the gateway needs to listen, authenticate, limit and store; see the module doc."""

    # extra="ignore": a .env shared with other tools holds NORNFLOW_* names that are not ours.
    # Typos are still caught: the YAML source and load_settings() refuse unknown keys.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8780, ge=1, le=65535)
    public_url: str | None = Field(default=None, description="The URL people type; default http(s)://host:port.")
    data_dir: Path = Path(".nornflow/gateway")
    workspaces: list[WorkspaceSettings] = Field(default_factory=_default_workspaces, min_length=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed")
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)
    auth_max_failures: int = Field(default=50, ge=1, description="failed token/session checks per address ...")
    auth_window_seconds: int = Field(default=60, ge=1, description="... within this window ...")
    auth_lockout_seconds: int = Field(default=60, ge=1, description="... answer 429 for this long")
    api_rate_per_second: float = Field(default=50, gt=0)
    api_burst: int = Field(default=200, ge=1)
    websocket_connects_per_minute: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    token_default_ttl_days: int = Field(default=90, ge=1)
    fleet_metrics_seconds: float = Field(default=60, ge=1, description=(
        "/metrics reads a workspace's fleet (devices, backups, drift, approvals, runs) from its Prefect API at "
        "most this often; a scrape in between shows the last reading"))
    sso: SsoSettings = Field(default_factory=SsoSettings, description=(
        "Single sign-on (OpenID Connect, LDAP/AD), the group-to-role mapping, local logins on or off "
        "(nornflow.gateway.sso.settings; docs/sso.md)."))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        files = _config_files(_environment.get())
        if files:
            sources.append(_LayeredYamlSource(settings_cls, yaml_file=files))
        return tuple(sources)

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # Env gives one string: accept a JSON list or "https://a, https://b".
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        from nornflow.gateway.proxy.http import trusted_networks

        trusted_networks(value)  # a bad entry raises ValueError naming itself
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            if origin.strip() == "*":
                raise ValueError("'*' is refused: a wildcard would let any site use a logged-in person's session; "
                                 "list exact origins such as https://ops.example.com")
            parts = urlsplit(origin.rstrip("/"))
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise ValueError(f"{origin!r} is not an origin: use scheme://host[:port], e.g. https://ops.example.com")
            origins.append(f"{parts.scheme}://{parts.netloc}")
        return origins

    @field_validator("workspaces")
    @classmethod
    def _unique_workspaces(cls, value: list[WorkspaceSettings]) -> list[WorkspaceSettings]:
        seen: set[str] = set()
        for ws in value:
            if ws.name in seen:
                raise ValueError(f"workspace name {ws.name!r} appears more than once: names must be unique")
            seen.add(ws.name)
        return value

    @model_validator(mode="after")
    def _check_tls_and_url(self) -> GatewaySettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise ValueError(f"{_names(missing)} is missing: set both tls_cert and tls_key, or neither")
        for field in ("tls_cert", "tls_key"):
            path = getattr(self, field)
            if path is not None and not path.is_file():
                raise ValueError(f"{_names(field)}: file {str(path)!r} does not exist")
        if self.public_url is None:
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.public_url = f"{'https' if self.tls_enabled else 'http'}://{host}:{self.port}"
        else:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{_names('public_url')}: {self.public_url!r} is not an http(s) URL")
            self.public_url = self.public_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _check_group_workspaces(self) -> GatewaySettings:
        names = {ws.name for ws in self.workspaces}
        for group, grants in self.sso.group_roles.items():
            unknown = sorted(set(grants) - names)
            if unknown:
                raise ValueError(f"{_names('sso')}: group_roles[{group!r}] names workspace(s) {unknown} that are not "
                                 f"configured (workspaces: {', '.join(sorted(names))})")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def public_base_url(self) -> str:
        """``public_url`` without a trailing slash (always set after validation)."""
        return (self.public_url or "").rstrip("/")

    @property
    def store_path(self) -> Path:
        """The SQLite file holding users, tokens and sessions."""
        return self.data_dir / "gateway.db"

    @property
    def audit_path(self) -> Path:
        return self.data_dir / "audit.jsonl"

    def workspace_dir(self, name: str) -> Path:
        """Where a started workspace server keeps its PREFECT_HOME and SQLite database."""
        return self.data_dir / "workspaces" / self.workspace(name).name

    def workspace(self, name: str) -> WorkspaceSettings:
        for ws in self.workspaces:
            if ws.name == name:
                return ws
        known = ", ".join(ws.name for ws in self.workspaces)
        raise UnknownWorkspaceError(f"no workspace named {name!r}; configured workspaces: {known}")


def _from_file(loc: list[str], given: Mapping[tuple[str, ...], str], overrides: Mapping[str, Any]) -> str:
    """`` in <file>`` when the value at ``loc`` came from a YAML file (not from kwargs or the environment)."""
    if loc[0] in overrides or any(k.upper().startswith(f"{ENV_PREFIX}{loc[0].upper()}") for k in os.environ):
        return ""
    for size in (3, 1):
        if len(loc) >= size and tuple(loc[:size]) in given:
            return f" in {given[tuple(loc[:size])]}"
    return ""


def _describe(error: Any, given: Mapping[tuple[str, ...], str] | None = None,
              overrides: Mapping[str, Any] | None = None) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    yaml_key = loc[0] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    where = f"{ENV_PREFIX}{loc[0].upper()} (YAML key '{yaml_key}'{_from_file(loc, given or {}, overrides or {})})"
    value = error.get("input")
    if error.get("type") == "extra_forbidden":
        return f"{where}: unknown setting; check the spelling"
    shown = "" if _SECRET_FIELDS & set(loc) or not isinstance(value, str | int | float) else f" (got {value!r})"
    return f"{where}: {message}{shown}"


@contextmanager
def _reading(config_file: Path | None, environment: str | None = None,
             provenance: dict[tuple[str, ...], str] | None = None) -> Iterator[None]:
    tokens = (_config_file.set(config_file), _environment.set(environment), _provenance.set(provenance))
    try:
        yield
    finally:
        _config_file.reset(tokens[0])
        _environment.reset(tokens[1])
        _provenance.reset(tokens[2])


def load_settings(config_file: Path | str | None = None, *, env: str | None = None,
                  **overrides: Any) -> GatewaySettings:
    """Read the settings (``env``: the environment whose YAML is layered on, default ``NORNFLOW_ENV``);
    raise :class:`GatewaySettingsError` naming every bad setting, and the file it came from, at once."""
    path = Path(config_file).expanduser() if config_file is not None else None
    unknown = sorted(set(overrides) - set(GatewaySettings.model_fields))
    if unknown:
        raise GatewaySettingsError(f"unknown gateway setting(s): {', '.join(unknown)}; check the spelling")
    given: dict[tuple[str, ...], str] = {}
    try:
        with _reading(path, env, given):
            return GatewaySettings(**overrides)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(e, given, overrides)}" for e in exc.errors())
        raise GatewaySettingsError(f"invalid gateway settings:\n{problems}") from None
    except SettingsError as exc:
        raise GatewaySettingsError(f"invalid gateway settings: {exc} (list settings such as "
                                   f"{ENV_PREFIX}WORKSPACES take JSON)") from None
    except yaml.YAMLError as exc:
        raise GatewaySettingsError(f"gateway config file {str(path)!r} is not valid YAML: {exc}") from None
