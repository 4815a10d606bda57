"""Single sign-on under test: a real OpenID provider (panva's oidc-provider, run with node) and a real
OpenLDAP (Debian's slapd), each started once per session on free loopback ports.

The provider knows two clients: ``nornflow`` (this gateway: confidential, code + refresh grants,
redirect URIs for the ports in :data:`GATEWAY_PORTS`) and ``other-app`` (another application at the
same provider, whose ID tokens must not open the gateway), and three people with groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.servers.ldap import LdapServer
from tests.servers.oidc.server import OidcProvider, free_port

CLIENT_ID = "nornflow"
CLIENT_SECRET = "oidc-client-test-secret-0123456789"  # a throwaway provider on loopback
OTHER_ID = "other-app"
OTHER_SECRET = "other-client-test-secret-0123456789"
OTHER_REDIRECT = "http://127.0.0.1:9/other/callback"
PEOPLE: list[dict[str, Any]] = [
    {"sub": "8f1c-olivia", "username": "olivia", "password": "olivia-idp-password", "email": "olivia@example.com",
     "groups": ["netops-admins", "netops"]},
    {"sub": "8f1c-pavel", "username": "pavel", "password": "pavel-idp-password", "email": "pavel@example.com",
     "groups": ["netops"]},
    {"sub": "8f1c-quinn", "username": "quinn", "password": "quinn-idp-password", "email": "quinn@example.com",
     "groups": []},
    {"sub": "8f1c-rita", "username": "rita", "password": "rita-idp-password", "email": "rita@example.com",
     "groups": ["netops"]},
    {"sub": "8f1c-sam", "username": "sam", "password": "sam-idp-password", "email": "sam@example.com",
     "groups": ["netops"]},
    # Someone at the provider whose user name is the gateway's local break-glass owner's.
    {"sub": "8f1c-mallory", "username": "otto", "password": "mallory-idp-password", "email": "m@example.com",
     "groups": ["netops-admins"]},
]
PASSWORDS = {p["username"]: p["password"] for p in PEOPLE}


@dataclass(frozen=True)
class GatewayPorts:
    """Ports chosen before the provider starts, so its client registration names the redirect URIs."""

    api: int
    browser: int

    def redirect_uri(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/sso/oidc/callback"


@pytest.fixture(scope="session")
def gateway_ports() -> GatewayPorts:
    return GatewayPorts(free_port(), free_port())


@pytest.fixture(scope="session")
def oidc_provider(gateway_ports: GatewayPorts) -> Iterator[OidcProvider]:
    ports = (gateway_ports.api, gateway_ports.browser)
    clients = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
         "redirect_uris": [gateway_ports.redirect_uri(p) for p in ports],
         "post_logout_redirect_uris": [f"http://127.0.0.1:{p}/login?bye=1" for p in ports],
         "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
         "token_endpoint_auth_method": "client_secret_basic"},
        {"client_id": OTHER_ID, "client_secret": OTHER_SECRET, "redirect_uris": [OTHER_REDIRECT],
         "grant_types": ["authorization_code"], "response_types": ["code"]},
    ]
    with OidcProvider(clients, [dict(p) for p in PEOPLE]) as provider:
        yield provider


@pytest.fixture(scope="session")
def ldap_server() -> Iterator[LdapServer]:
    with LdapServer() as server:
        yield server


def sign_in_at_provider(client: httpx.Client, authorize_url: str, username: str, password: str,
                        redirect_prefix: str) -> httpx.URL:
    """Follow the provider's redirects to its login form, sign in there, and follow on until the provider
    sends the browser back to ``redirect_prefix``: that callback URL (code, state, iss), not yet visited."""
    url = httpx.URL(authorize_url)
    reply = client.get(url)
    for _ in range(10):
        if reply.status_code in (302, 303):
            url = url.join(reply.headers["location"])
            if str(url).startswith(redirect_prefix):
                return url
            reply = client.get(url)
            continue
        if reply.status_code == 200 and "<form" in reply.text:
            action = re.search(r'action="([^"]+)"', reply.text)
            assert action, reply.text
            url = url.join(action.group(1))
            reply = client.post(url, data={"username": username, "password": password})
            assert reply.status_code != 401, f"the provider refused {username}'s password"
            continue
        break
    raise AssertionError(f"the provider did not send the browser back: HTTP {reply.status_code} {reply.text[:300]}")
