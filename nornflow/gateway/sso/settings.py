"""The single sign-on settings: an OpenID provider, a directory, and which group grants which role.

They sit under the gateway's ``sso`` setting (YAML key ``sso``, environment ``NORNFLOW_SSO__...``)::

    sso:
      local_login: true            # the gateway's own users (break-glass); false refuses their logins
      recheck_minutes: 15          # a signed-in person's groups are read again this often
      group_roles:                 # directory group -> workspace -> roles (OIDC and LDAP alike)
        netops-admins: {core: [owner]}
        netops: {core: [runner, approver], datacenter: [viewer]}
      oidc: {issuer: ..., client_id: ..., client_secret: "secret:..."}
      ldap: {url: "ldaps://...", bind_dn: ..., bind_password: "secret:...", user_base: ..., group_base: ...}

Secrets (the client secret, the service account's password) are ``SecretStr``: a literal, or a
secret reference (``secret:<block-type>/<block>...``) resolved when the gateway starts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from nornflow.gateway.policy.roles import Role

#: ID-token signature algorithms accepted: asymmetric only (a symmetric one would make the client
#: secret a signing key, and ``none`` is no signature at all).
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_ROLES = tuple(str(role.value) for role in Role)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _existing_file(value: Path | None, what: str) -> Path | None:
    if value is not None and not value.is_file():
        raise ValueError(f"{what} {str(value)!r} does not exist")
    return value


def resolve_secret(value: SecretStr | None, resolve: Callable[[str], str] | None, what: str) -> str | None:
    """A secret setting's value: a literal as is, a reference through ``resolve``. Never log the result."""
    if value is None:
        return None
    from nornflow.secrets.reference import is_reference

    raw = value.get_secret_value()
    if is_reference(raw):
        if resolve is None:
            from nornflow.secrets.resolver import Resolver

            resolve = Resolver().resolve
        try:
            return resolve(raw)
        except Exception as exc:  # SecretError's message names the reference and the backend, never a value
            from nornflow.gateway.errors import GatewaySettingsError

            raise GatewaySettingsError(f"{what}: the secret reference could not be resolved: {exc}") from None
    return raw


#: An LDAP filter setting: the placeholder it must hold, an example.
_FILTERS = {"user_filter": ("{username}", "(uid={username})"), "group_filter": ("{user_dn}", "(member={user_dn})")}

class OidcSettings(BaseModel):
    """An OpenID Connect provider: authorization code flow with PKCE (S256), checked ID tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(description="The provider's issuer URL, exactly as its discovery document states it.")
    client_id: str = Field(min_length=1, description="This gateway's client id at the provider.")
    client_secret: SecretStr | None = Field(default=None, description=(
        "The client secret: a secret reference (secret:<block-type>/<block>...) or a literal; "
        "none for a public client (PKCE alone)."))
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email", "groups"])
    username_claim: str = Field(default="preferred_username", description=(
        "The claim that becomes the gateway user name (lower-cased); e.g. email or upn."))
    groups_claim: str = Field(default="groups", description="The claim listing the person's groups.")
    clock_skew_seconds: int = Field(default=60, ge=0, le=300, description=(
        "Tolerated clock difference for exp, iat and nbf (at most 5 minutes)."))
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    ca_file: Path | None = Field(default=None, description="A CA bundle for a provider behind a private CA.")
    display_name: str = Field(default="single sign-on", max_length=60,
                              description="The login button says 'Log in with <display_name>'.")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{value!r} is not an issuer URL: use https://host[/path], as the provider's "
                             "/.well-known/openid-configuration states it")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(f"{value!r}: an issuer must use https (plain http is accepted on loopback only)")
        return value

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid' (without it the provider returns no ID token)")
        if any(not s or " " in s for s in value):
            raise ValueError("each scope is one word without spaces")
        return value

    @field_validator("algorithms")
    @classmethod
    def _check_algorithms(cls, value: list[str]) -> list[str]:
        bad = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"ID-token algorithms {bad or value} are refused: choose from "
                             f"{', '.join(ASYMMETRIC_ALGORITHMS)} (asymmetric signatures only)")
        return value

    @field_validator("ca_file")
    @classmethod
    def _check_ca(cls, value: Path | None) -> Path | None:
        return _existing_file(value, "CA file")


class LdapSettings(BaseModel):
    """An LDAP directory or Active Directory: a service account finds the person and their groups,
    then the person's own bind checks the password. Always over TLS (LDAPS, or StartTLS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="ldaps://host[:636], or ldap://host[:389] with start_tls: true.")
    start_tls: bool = Field(default=False, description="Upgrade an ldap:// connection with StartTLS (required "
                                                       "for ldap://).")
    bind_dn: str = Field(min_length=1, description="The service account that searches the directory.")
    bind_password: SecretStr = Field(description="Its password: a secret reference or a literal.")
    user_base: str = Field(min_length=1, description="Where people are searched, e.g. ou=people,dc=example,dc=com.")
    user_filter: str = Field(default="(uid={username})", description=(
        "Finds one person; {username} is replaced by the escaped name typed. AD: (sAMAccountName={username})."))
    username_attribute: str = Field(default="uid", description=(
        "The person's attribute that becomes the gateway user name (lower-cased); AD: sAMAccountName."))
    group_base: str = Field(min_length=1, description="Where groups are searched.")
    group_filter: str = Field(default="(member={user_dn})", description=(
        "Finds a person's groups; {user_dn} is the escaped DN. AD with nesting: "
        "(member:1.2.840.113556.1.4.1941:={user_dn})."))
    group_name_attribute: str = Field(default="cn", description="The attribute that names a group in group_roles.")
    ca_file: Path | None = Field(default=None, description="The CA that signed the directory's certificate "
                                                           "(default: the system's CAs).")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"{value!r} is not an LDAP server URL: use ldaps://host:636 (or ldap://host:389 "
                             "with start_tls: true)")
        return value

    @field_validator("user_filter", "group_filter")
    @classmethod
    def _check_filter(cls, value: str, info: ValidationInfo) -> str:
        placeholder, example = _FILTERS[str(info.field_name)]
        if placeholder not in value or not (value.startswith("(") and value.endswith(")")):
            raise ValueError(f"{info.field_name} {value!r} must be a parenthesised LDAP filter holding "
                             f"{placeholder}, e.g. {example}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _check_ca(cls, value: Path | None) -> Path | None:
        return _existing_file(value, "CA file")

    @model_validator(mode="after")
    def _tls_required(self) -> LdapSettings:
        scheme = urlsplit(self.url).scheme
        if scheme == "ldap" and not self.start_tls:
            raise ValueError(f"{self.url!r} is plain LDAP: passwords would cross the network in clear. Use "
                             "ldaps://, or set start_tls: true")
        if scheme == "ldaps" and self.start_tls:
            raise ValueError("start_tls is for ldap:// URLs; an ldaps:// connection is already TLS")
        return self


class SsoSettings(BaseModel):
    """Who may log in how, and what a directory group grants (shared by OIDC and LDAP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    local_login: bool = Field(default=True, description=(
        "The gateway's own users may log in with their password (break-glass). False refuses them."))
    recheck_minutes: int = Field(default=15, ge=1, le=24 * 60, description=(
        "A single-sign-on session reads the person's groups again after this long (OIDC: a refresh-token "
        "grant; LDAP: a search). A person no longer found, or whose provider refuses, is logged out."))
    group_roles: dict[str, dict[str, list[str]]] = Field(default_factory=dict, description=(
        "Directory group -> workspace -> roles. A person's roles are the union over their groups, set "
        "again at every login and recheck."))
    oidc: OidcSettings | None = None
    ldap: LdapSettings | None = None

    @field_validator("group_roles")
    @classmethod
    def _check_group_roles(cls, value: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        from nornflow.gateway.workspace_settings import validate_workspace_name

        for group, grants in value.items():
            if not group.strip():
                raise ValueError("group_roles: a group name is empty")
            for workspace, roles in grants.items():
                try:
                    validate_workspace_name(workspace)
                except ValueError as exc:
                    raise ValueError(f"group_roles[{group!r}]: {exc}") from None
                unknown = sorted(set(roles) - set(_ROLES))
                if unknown or not roles:
                    raise ValueError(f"group_roles[{group!r}][{workspace!r}]: unknown or no roles {unknown or roles}; "
                                     f"roles are: {', '.join(_ROLES)}")
        return value

    @property
    def enabled(self) -> bool:
        return self.oidc is not None or self.ldap is not None
