"""LDAP logins against a real OpenLDAP (Debian's slapd): the right password over LDAPS and over StartTLS,
a wrong one, an injection in the user name, an empty password or name, plain LDAP refused by the
settings and by the server, a certificate from another CA, and groups read again after a change."""

from __future__ import annotations

from pathlib import Path

import ldap3
import pytest
from pydantic import SecretStr

from nornflow.gateway.errors import GatewaySettingsError
from nornflow.gateway.settings import load_settings
from nornflow.gateway.sso.errors import SsoError, SsoProviderError
from nornflow.gateway.sso.groups import roles_for
from nornflow.gateway.sso.ldap import LdapDirectory
from nornflow.gateway.sso.settings import LdapSettings
from tests.servers.ldap import GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, USERS, LdapServer
from tests.servers.tls import make_ca_and_server_cert

pytestmark = pytest.mark.integration
GROUP_ROLES = {"netops-admins": {"core": ["owner"]}, "netops": {"core": ["runner", "viewer"]}}


def directory(server: LdapServer, *, starttls: bool = False, password: str = SERVICE_PASSWORD,
              ca_file: Path | None = None) -> LdapDirectory:
    settings = LdapSettings(url=server.ldap_url if starttls else server.ldaps_url, start_tls=starttls,
                            bind_dn=SERVICE_DN, bind_password=SecretStr(password), user_base=PEOPLE, group_base=GROUPS,
                            ca_file=ca_file or server.ca_file)
    return LdapDirectory(settings, password)


@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
def test_the_right_password_logs_in_with_the_groups(ldap_server: LdapServer, starttls: bool) -> None:
    identity = directory(ldap_server, starttls=starttls).authenticate("mark", USERS["mark"][0])
    assert (identity.username, identity.subject) == ("mark", f"uid=mark,{PEOPLE}")
    assert identity.groups == {"netops"}
    assert roles_for(identity.groups, GROUP_ROLES) == {"core": {"runner", "viewer"}}
    # The typed name's case does not matter to the directory; the user name is the entry's own.
    assert directory(ldap_server).authenticate("MARK", USERS["mark"][0]).username == "mark"


def test_a_wrong_password_is_refused(ldap_server: LdapServer) -> None:
    with pytest.raises(SsoError, match="wrong user name or password") as refused:
        directory(ldap_server).authenticate("mark", USERS["lena"][0])
    assert USERS["lena"][0] not in str(refused.value)
    with pytest.raises(SsoError, match="wrong user name or password"):
        directory(ldap_server).authenticate("nobody", "whatever-password")


@pytest.mark.parametrize("name", ["*)(uid=*", "*", "mark)(|(uid=*", "m*", "*)(objectClass=*"])
def test_an_injection_in_the_user_name_finds_nobody(ldap_server: LdapServer, name: str) -> None:
    with pytest.raises(SsoError, match="wrong user name or password"):
        directory(ldap_server).authenticate(name, USERS["mark"][0])


def test_the_escaping_is_what_stops_the_wildcard(ldap_server: LdapServer) -> None:
    """The service account's search with the raw text finds everyone; with the escaped text, nobody."""
    from ldap3.utils.conv import escape_filter_chars

    with ldap_server.admin() as conn:
        conn.search(PEOPLE, "(uid={username})".replace("{username}", "*"), attributes=["uid"])
        assert len(conn.entries) == len(USERS)
        conn.search(PEOPLE, "(uid={username})".replace("{username}", escape_filter_chars("*")), attributes=["uid"])
        assert len(conn.entries) == 0


@pytest.mark.parametrize(("name", "password"), [("mark", ""), ("", ""), ("", USERS["mark"][0]), ("  ", "x")])
def test_an_empty_password_or_name_never_binds(ldap_server: LdapServer, name: str, password: str) -> None:
    with pytest.raises(SsoError, match="wrong user name or password"):
        directory(ldap_server).authenticate(name, password)


def test_plain_ldap_is_refused_by_the_settings_and_by_the_server(ldap_server: LdapServer) -> None:
    with pytest.raises(ValueError, match="plain LDAP"):
        LdapSettings(url=ldap_server.ldap_url, bind_dn=SERVICE_DN, bind_password=SecretStr(SERVICE_PASSWORD),
                     user_base=PEOPLE, group_base=GROUPS)
    with pytest.raises(GatewaySettingsError, match="plain LDAP") as bad:
        load_settings(None, sso={"ldap": {"url": ldap_server.ldap_url, "bind_dn": SERVICE_DN,
                                          "bind_password": SERVICE_PASSWORD, "user_base": PEOPLE,
                                          "group_base": GROUPS}})
    assert SERVICE_PASSWORD not in str(bad.value)
    # Why it matters: without StartTLS this server refuses the bind outright (security tls=1).
    plain = ldap3.Connection(ldap3.Server("127.0.0.1", port=ldap_server.ldap_port, get_info=ldap3.NONE),
                             user=SERVICE_DN, password=SERVICE_PASSWORD)
    assert not plain.bind() and plain.result["description"] == "confidentialityRequired"


def test_a_certificate_from_another_ca_is_refused(ldap_server: LdapServer, tmp_path: Path) -> None:
    other_ca, _, _ = make_ca_and_server_cert(tmp_path)
    for starttls in (False, True):
        with pytest.raises(SsoProviderError, match=r"could not be used|refused StartTLS"):
            directory(ldap_server, starttls=starttls, ca_file=other_ca).authenticate("mark", USERS["mark"][0])


def test_a_wrong_service_password_names_the_setting(ldap_server: LdapServer) -> None:
    with pytest.raises(SsoProviderError, match="bind_dn and bind_password") as refused:
        directory(ldap_server, password="not-the-service-password").authenticate("mark", USERS["mark"][0])
    assert "not-the-service-password" not in str(refused.value)


def test_leaving_a_group_takes_its_role_at_the_recheck(ldap_server: LdapServer) -> None:
    ldap = directory(ldap_server)
    lena = ldap.authenticate("lena", USERS["lena"][0])
    assert roles_for(lena.groups, GROUP_ROLES) == {"core": {"owner", "runner", "viewer"}}
    ldap_server.remove_from_group("lena", "netops-admins")
    try:
        again = ldap.recheck(lena.subject)
        assert again.groups == {"netops"}
        assert roles_for(again.groups, GROUP_ROLES) == {"core": {"runner", "viewer"}}
    finally:
        ldap_server.add_to_group("lena", "netops-admins")
    with pytest.raises(SsoError, match="no longer has this person"):
        ldap.recheck(f"uid=gone,{PEOPLE}")
