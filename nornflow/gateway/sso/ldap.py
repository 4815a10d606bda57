"""LDAP and Active Directory: a person's password checked by their own bind, their groups by a search.

How a login goes, every step over TLS (LDAPS, or StartTLS before anything else is sent):

1. an empty user name or password is refused here, before the network: an LDAP simple bind with a
   name and no password is an *unauthenticated* bind that many servers accept (RFC 4513 5.1.2);
2. the service account binds and searches ``user_base`` with ``user_filter``, the typed name
   escaped (RFC 4515), so ``*)(uid=*`` is looked for literally; exactly one entry must match;
3. a second connection binds as that entry's DN with the typed password;
4. the service account searches ``group_base`` with ``group_filter`` (the DN escaped the same way)
   and the groups' ``group_name_attribute`` values are the person's groups.

A recheck (:meth:`LdapDirectory.recheck`) repeats 2 (by DN) and 4 without a password: a person
deleted from the directory, or moved out of a group, loses the session or the role.
ldap3 is synchronous: callers in an event loop run these methods in a thread.
"""

from __future__ import annotations

import ssl
from typing import Literal
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from nornflow.gateway.sso.errors import SsoError, SsoProviderError
from nornflow.gateway.sso.groups import Identity, user_name
from nornflow.gateway.sso.settings import LdapSettings

WRONG = "wrong user name or password"


class LdapDirectory:
    """One directory, reached with the service account's credentials (resolved by the caller)."""

    def __init__(self, settings: LdapSettings, bind_password: str) -> None:
        self.settings = settings
        self._password = bind_password
        parts = urlsplit(settings.url)
        ldaps = parts.scheme == "ldaps"
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
                        ca_certs_file=str(settings.ca_file) if settings.ca_file else None)
        self._server = ldap3.Server(parts.hostname or "", port=parts.port or (636 if ldaps else 389), use_ssl=ldaps,
                                    tls=tls, get_info=ldap3.NONE, connect_timeout=max(1, int(settings.timeout_seconds)))

    def __repr__(self) -> str:
        return f"LdapDirectory(url={self.settings.url!r}, bind_dn={self.settings.bind_dn!r})"

    def _bind(self, dn: str, password: str) -> ldap3.Connection | None:
        """A connection bound as ``dn`` over TLS, or None when the server refuses the credentials."""
        if not dn or not password:
            return None
        conn = ldap3.Connection(self._server, user=dn, password=password, authentication=ldap3.SIMPLE,
                                auto_bind=ldap3.AUTO_BIND_NONE, read_only=True, raise_exceptions=False,
                                receive_timeout=max(1, int(self.settings.timeout_seconds)))
        try:
            conn.open()
            if self.settings.start_tls and not conn.start_tls():
                conn.unbind()
                raise SsoProviderError(f"the directory at {self.settings.url} refused StartTLS: the gateway sends no "
                                       "credentials without TLS")
            if not conn.bind():
                conn.unbind()
                return None
        except LDAPException as exc:
            raise SsoProviderError(f"the directory at {self.settings.url} could not be used ({type(exc).__name__}: "
                                   f"{_clip(exc)}); check the url, its TLS certificate (ca_file) and the "
                                   "network") from None
        return conn

    def _service(self) -> ldap3.Connection:
        conn = self._bind(self.settings.bind_dn, self._password)
        if conn is None:
            raise SsoProviderError(f"the directory refused the service account {self.settings.bind_dn!r}: check "
                                   "bind_dn and bind_password in the gateway's sso.ldap settings")
        return conn

    def _groups(self, conn: ldap3.Connection, dn: str) -> frozenset[str]:
        s = self.settings
        query = s.group_filter.replace("{user_dn}", escape_filter_chars(dn))
        if not conn.search(s.group_base, query, ldap3.SUBTREE, attributes=[s.group_name_attribute]) \
                and conn.result.get("result") not in (0, 32):
            raise SsoProviderError(f"the directory's group search failed ({conn.result.get('description')})")
        names: set[str] = set()
        for entry in conn.response or []:
            values = entry.get("attributes", {}).get(s.group_name_attribute) if entry.get("type") == "searchResEntry" \
                else None
            names.update(str(v) for v in (values if isinstance(values, list) else [values] if values else []))
        return frozenset(names)

    def _find(self, conn: ldap3.Connection, base: str, query: str,
              scope: Literal["BASE", "SUBTREE"]) -> tuple[str, str] | None:
        """(DN, user name) of the one entry the search finds, or None (none, or more than one)."""
        attribute = self.settings.username_attribute
        conn.search(base, query, scope, attributes=[attribute], size_limit=2)
        entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            return None
        value = entries[0].get("attributes", {}).get(attribute)
        value = value[0] if isinstance(value, list) and value else value
        return str(entries[0]["dn"]), str(value or "")

    def authenticate(self, username: str, password: str) -> Identity:
        """Who logged in, with their groups; SsoError ("wrong user name or password") otherwise."""
        if not isinstance(username, str) or not isinstance(password, str) or not username.strip() or not password:
            raise SsoError(WRONG)
        s = self.settings
        service = self._service()
        try:
            found = self._find(service, s.user_base, s.user_filter.replace("{username}", escape_filter_chars(
                username.strip())), ldap3.SUBTREE)
            if found is None:
                raise SsoError(WRONG)
            dn, name = found
            person = self._bind(dn, password)
            if person is None:
                raise SsoError(WRONG)
            person.unbind()
            groups = self._groups(service, dn)
        finally:
            service.unbind()
        return Identity(source="ldap", subject=dn, groups=groups,
                        username=user_name(name, f"the directory's {s.username_attribute}"))

    def recheck(self, dn: str) -> Identity:
        """The person's groups now, found by DN with the service account; SsoError when they are gone."""
        s = self.settings
        service = self._service()
        try:
            found = self._find(service, dn, "(objectClass=*)", ldap3.BASE)
            if found is None:
                raise SsoError("the directory no longer has this person: log in again")
            groups = self._groups(service, dn)
        finally:
            service.unbind()
        return Identity(source="ldap", subject=dn, groups=groups,
                        username=user_name(found[1], f"the directory's {s.username_attribute}"))


def _clip(exc: Exception) -> str:
    return "".join(c for c in str(exc) if c.isprintable())[:200]
