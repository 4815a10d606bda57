"""One workspace of the gateway: its name, the Prefect server it fronts (or starts), that server's
database and environment, its four-eyes and lab flags, and its incoming webhooks.

Secrets (the upstream ``auth_string``, the ``database_url``, the values of ``env``) are ``SecretStr``
and never echoed in a message; :meth:`WorkspaceSettings.server_env` is the one place they are
unwrapped (secret references through the resolver it is handed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from nornflow.gateway.errors import GatewaySettingsError, InvalidNameError
from nornflow.gateway.hooks.config import HookSettings

_WORKSPACE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
#: Variables the gateway sets for a workspace server itself; a workspace ``env`` may not override them.
RESERVED_SERVER_ENV = frozenset({
    "PREFECT_HOME", "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_API_AUTH_STRING", "PREFECT_SERVER_API_HOST", "PREFECT_SERVER_API_PORT",
    "PREFECT_SERVER_API_BASE_PATH", "PREFECT_UI_SERVE_BASE", "PREFECT_UI_API_URL", "PREFECT_UI_STATIC_DIRECTORY",
    "PREFECT_SERVER_CSRF_PROTECTION_ENABLED", "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED",
    "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED",
})
def validate_workspace_name(name: str) -> str:
    """A workspace name becomes a URL segment (/w/<name>) and a directory, so keep it plain."""
    if not isinstance(name, str) or not _WORKSPACE_NAME.fullmatch(name):
        raise InvalidNameError(
            f"workspace name {name!r} is invalid: use 1-40 lowercase letters, digits or '-', "
            "starting with a letter or digit (e.g. 'core-network')")
    return name


class WorkspaceSettings(BaseModel):
    """One workspace: a Prefect server the gateway starts, or an existing one it fronts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="URL-safe name: lowercase letters, digits and '-', 1-40 characters.")
    url: str | None = Field(default=None, description="API URL of a running Prefect server to front; None starts one.")
    database_url: SecretStr | None = Field(
        default=None, description="Database URL for a started server (it may hold a password); None uses SQLite.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Loopback port of a started server; None picks a free one.")
    auth_string: SecretStr | None = Field(
        default=None, description="The fronted server's PREFECT_SERVER_API_AUTH_STRING.")
    four_eyes: bool = Field(default=True, description="Whoever started a change may not approve it.")
    lab: bool = Field(default=False, description=(
        "The workspace's devices are a lab: deploy_config's auto_approve works here (nowhere else). The gateway "
        "mirrors it into the server's `nornflow_lab` variable, which nobody else may write."))
    env: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra environment of a started server (PREFECT_API_DATABASE_PASSWORD...): plain values or "
                    "secret references (secret:<block-type>/<block>...); never logged.")
    hooks: list[HookSettings] = Field(default_factory=list, description=(
        "Incoming webhooks at /w/<name>/hooks/<hook> (nornflow.gateway.hooks; docs/webhooks.md)."))

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = value.get_secret_value().split("://", 1)[0] if "://" in value.get_secret_value() else ""
            if not scheme.startswith(("postgresql", "sqlite")):
                raise ValueError(f"database URL scheme {scheme or '(none)'!r} is not supported: use "
                                 "postgresql+asyncpg://user@host:5432/db or sqlite+aiosqlite:///path")
        return value

    @field_validator("hooks")
    @classmethod
    def _unique_hooks(cls, value: list[HookSettings]) -> list[HookSettings]:
        names = [hook.name for hook in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"hook name(s) {', '.join(twice)} appear more than once: names are unique per workspace")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        from nornflow.secrets.reference import is_reference, parse_chain

        for name, secret in value.items():
            if not _ENV_VAR.fullmatch(name):
                raise ValueError(f"env name {name!r} is not an environment variable name (A-Z, 0-9, _)")
            if name in RESERVED_SERVER_ENV:
                raise ValueError(f"env {name} is set by the gateway itself and may not be overridden "
                                 "(use database_url for the database)")
            if is_reference(secret.get_secret_value()):
                try:
                    parse_chain(secret.get_secret_value())
                except Exception as exc:  # SecretReferenceError: its message shows the syntax, not a value
                    raise ValueError(f"env {name}: {exc}") from None
        return value

    def database_url_value(self, default: str) -> str:
        """The database URL to hand to the server process (the only place it is unwrapped)."""
        return self.database_url.get_secret_value() if self.database_url else default

    def server_env(self, resolve: Callable[[str], str] | None = None) -> dict[str, str]:
        """``env`` unwrapped for the server process; secret references go through ``resolve``
        (e.g. ``nornflow.secrets.resolver.Resolver().resolve``). Never log the result."""
        from nornflow.secrets.reference import is_reference

        values: dict[str, str] = {}
        for name, secret in self.env.items():
            raw = secret.get_secret_value()
            if is_reference(raw):
                if resolve is None:
                    raise GatewaySettingsError(f"workspace {self.name!r}: env {name} is a secret reference and no "
                                               "resolver was given")
                raw = resolve(raw)
            values[name] = raw
        return values

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
