"""The gateway's settings: one model, read from init kwargs, NORNFLOW_* variables, .env and YAML.

Precedence, highest first: keyword arguments > environment > ``.env`` > the YAML file
(``NORNFLOW_CONFIG`` or an explicit path) > defaults. Every setting has one env name
(``NORNFLOW_PORT``) and one YAML key (``port``); :func:`load_settings` turns pydantic's
errors into one :class:`GatewaySettingsError` that names both, so a person fixes the
right place whichever one they used. Secrets (a workspace's upstream ``auth_string``)
are ``SecretStr`` and never echoed in a message.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from nornflow.gateway.errors import GatewaySettingsError, InvalidNameError, UnknownWorkspaceError

ENV_PREFIX = "NORNFLOW_"
CONFIG_ENV = "NORNFLOW_CONFIG"
_WORKSPACE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_SECRET_FIELDS = frozenset({"auth_string"})
# Which YAML file the next GatewaySettings() reads; a ContextVar so concurrent loads never mix files.
_config_file: ContextVar[Path | None] = ContextVar("nornflow_gateway_config_file", default=None)


def validate_workspace_name(name: str) -> str:
    """A workspace name becomes a URL segment (/w/<name>) and a directory, so keep it plain."""
    if not isinstance(name, str) or not _WORKSPACE_NAME.fullmatch(name):
        raise InvalidNameError(
            f"workspace name {name!r} is invalid: use 1-40 lowercase letters, digits or '-', "
            "starting with a letter or digit (e.g. 'core-network')")
    return name


def _names(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()} (YAML key '{field}')"


class WorkspaceSettings(BaseModel):
    """One workspace: a Prefect server the gateway starts, or an existing one it fronts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="URL-safe name: lowercase letters, digits and '-', 1-40 characters.")
    url: str | None = Field(default=None, description="API URL of a running Prefect server to front; None starts one.")
    database_url: str | None = Field(default=None, description="Database URL for a started server; None uses SQLite.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Loopback port of a started server; None picks a free one.")
    auth_string: SecretStr | None = Field(
        default=None, description="The fronted server's PREFECT_SERVER_API_AUTH_STRING.")
    four_eyes: bool = Field(default=True, description="Whoever started a change may not approve it.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        try:
            return validate_workspace_name(value)
        except InvalidNameError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:4200/api")
        return value


class _YamlSource(YamlConfigSettingsSource):
    """The YAML file, refusing keys that are not settings (a typo would otherwise be ignored)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data: Any = super()._read_file(file_path)
        if not isinstance(data, dict):
            raise GatewaySettingsError(f"gateway config file {str(file_path)!r} must be a mapping of settings, "
                                       f"e.g. 'port: 8780'; it holds a {type(data).__name__}")
        unknown = sorted(set(data) - set(GatewaySettings.model_fields))
        if unknown:
            raise GatewaySettingsError(f"gateway config file {str(file_path)!r}: unknown setting(s) "
                                       f"{', '.join(map(str, unknown))}; check the spelling")
        return data


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
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)
    api_rate_per_second: float = Field(default=50, gt=0)
    api_burst: int = Field(default=200, ge=1)
    websocket_connects_per_minute: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    token_default_ttl_days: int = Field(default=90, ge=1)

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
        config = _config_file.get() or os.environ.get(CONFIG_ENV)
        if config:
            path = Path(config).expanduser()
            if not path.is_file():
                raise GatewaySettingsError(f"gateway config file {str(path)!r} (from {CONFIG_ENV} or --config) "
                                           "does not exist: create it or point to the right file")
            sources.append(_YamlSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # Env gives one string: accept a JSON list or "https://a, https://b".
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
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


def _describe(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    yaml_key = loc[0] + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    where = f"{ENV_PREFIX}{loc[0].upper()} (YAML key '{yaml_key}')"
    value = error.get("input")
    if error.get("type") == "extra_forbidden":
        return f"{where}: unknown setting; check the spelling"
    shown = "" if _SECRET_FIELDS & set(loc) or not isinstance(value, str | int | float) else f" (got {value!r})"
    return f"{where}: {message}{shown}"


@contextmanager
def _reading(config_file: Path | None) -> Iterator[None]:
    token = _config_file.set(config_file)
    try:
        yield
    finally:
        _config_file.reset(token)


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> GatewaySettings:
    """Read the settings; raise :class:`GatewaySettingsError` naming every bad setting at once."""
    path = Path(config_file).expanduser() if config_file is not None else None
    unknown = sorted(set(overrides) - set(GatewaySettings.model_fields))
    if unknown:
        raise GatewaySettingsError(f"unknown gateway setting(s): {', '.join(unknown)}; check the spelling")
    try:
        with _reading(path):
            return GatewaySettings(**overrides)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise GatewaySettingsError(f"invalid gateway settings:\n{problems}") from None
    except SettingsError as exc:
        raise GatewaySettingsError(f"invalid gateway settings: {exc} (list settings such as "
                                   f"{ENV_PREFIX}WORKSPACES take JSON)") from None
    except yaml.YAMLError as exc:
        raise GatewaySettingsError(f"gateway config file {str(path)!r} is not valid YAML: {exc}") from None
