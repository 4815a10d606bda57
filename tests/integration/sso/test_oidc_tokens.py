"""The OpenID relying party against a real provider: every ID-token check of nornflow.gateway.sso.oidc
refuses a real token bent one way (wrong nonce, another client's audience, expired, issued in the
future, a tampered signature or payload, alg none / HS256 with the client secret), a code is spent
once, and a refresh reads the groups as the provider states them now."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import httpx
import jwt
import pytest

from nornflow.gateway.sso.errors import SsoError, SsoProviderError
from nornflow.gateway.sso.oidc import OidcClient, Pending
from nornflow.gateway.sso.settings import OidcSettings
from tests.integration.sso.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_ID,
    OTHER_REDIRECT,
    OTHER_SECRET,
    PASSWORDS,
    GatewayPorts,
    sign_in_at_provider,
)
from tests.servers.oidc.server import OidcProvider

pytestmark = pytest.mark.integration
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def client_for(provider: OidcProvider, ports: GatewayPorts, *, client_id: str = CLIENT_ID,
               secret: str = CLIENT_SECRET, redirect: str | None = None,
               clock: Callable[[], float] = time.time, **settings: Any) -> OidcClient:
    return OidcClient(OidcSettings(issuer=provider.issuer, client_id=client_id, **settings),
                      redirect or ports.redirect_uri(ports.api), secret, clock=clock)


async def code_for(rp: OidcClient, username: str) -> tuple[str, Pending]:
    """A real authorization code for ``username`` (signed in at the provider's form) and its pending login."""
    url, pending = await rp.begin("/")
    with httpx.Client(timeout=10) as browser:
        callback = sign_in_at_provider(browser, url, username, PASSWORDS[username], rp.redirect_uri)
    assert callback.params["state"] == pending.state
    return callback.params["code"], pending


async def id_token_for(provider: OidcProvider, ports: GatewayPorts, username: str = "pavel") -> tuple[str, Pending]:
    rp = client_for(provider, ports)
    code, pending = await code_for(rp, username)
    identity = await rp.complete(code, pending)
    return identity.secrets["id_token"], pending


def test_a_login_gives_the_person_and_their_groups(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        rp = client_for(oidc_provider, gateway_ports)
        url, pending = await rp.begin("/w/core/")
        query = httpx.URL(url).params
        assert query["code_challenge_method"] == "S256" and query["code_challenge"] != pending.code_verifier
        assert query["state"] == pending.state and query["nonce"] == pending.nonce
        code, pending = await code_for(rp, "olivia")
        identity = await rp.complete(code, pending)
        assert (identity.username, identity.subject) == ("olivia", "8f1c-olivia")
        assert identity.groups == {"netops-admins", "netops"}
        assert set(identity.secrets) == {"id_token", "nonce", "refresh_token"}
        assert "id_token" not in repr(identity) and identity.secrets["id_token"] not in repr(identity)

    run(go())


def test_a_code_is_spent_once(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        rp = client_for(oidc_provider, gateway_ports)
        code, pending = await code_for(rp, "pavel")
        await rp.complete(code, pending)
        with pytest.raises(SsoError, match="invalid_grant") as replayed:
            await rp.complete(code, pending)
        assert code not in str(replayed.value)

    run(go())


def test_a_code_needs_its_own_pkce_verifier(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        rp = client_for(oidc_provider, gateway_ports)
        code, pending = await code_for(rp, "pavel")
        _, other = await rp.begin("/")
        with pytest.raises(SsoError, match="invalid_grant"):
            await rp.complete(code, replace(pending, code_verifier=other.code_verifier))

    run(go())


def test_a_wrong_nonce_is_refused(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        token, pending = await id_token_for(oidc_provider, gateway_ports)
        rp = client_for(oidc_provider, gateway_ports)
        assert (await rp.check_id_token(token, nonce=pending.nonce))["sub"] == "8f1c-pavel"
        with pytest.raises(SsoError, match="nonce"):
            await rp.check_id_token(token, nonce="another-login's-nonce")

    run(go())


def test_another_clients_token_is_refused(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        other = client_for(oidc_provider, gateway_ports, client_id=OTHER_ID, secret=OTHER_SECRET,
                           redirect=OTHER_REDIRECT, scopes=["openid", "profile", "groups"])
        code, pending = await code_for(other, "pavel")
        token = (await other.complete(code, pending)).secrets["id_token"]
        assert jwt.decode(token, options={"verify_signature": False})["aud"] == OTHER_ID
        with pytest.raises(SsoError, match="audience is not this gateway"):
            await client_for(oidc_provider, gateway_ports).check_id_token(token, nonce=pending.nonce)

    run(go())


def test_expiry_and_issue_time_hold_within_the_clock_skew(oidc_provider: OidcProvider,
                                                         gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        token, pending = await id_token_for(oidc_provider, gateway_ports)
        claims = jwt.decode(token, options={"verify_signature": False})
        skew = 30

        def at(moment: float) -> OidcClient:
            return client_for(oidc_provider, gateway_ports, clock=lambda: moment, clock_skew_seconds=skew)

        await at(claims["exp"] + skew - 1).check_id_token(token, nonce=pending.nonce)  # late, within the skew
        with pytest.raises(SsoError, match="expired"):
            await at(claims["exp"] + skew + 1).check_id_token(token, nonce=pending.nonce)
        await at(claims["iat"] - skew + 1).check_id_token(token, nonce=pending.nonce)  # our clock a little behind
        with pytest.raises(SsoError, match="in the future"):
            await at(claims["iat"] - skew - 1).check_id_token(token, nonce=pending.nonce)

    run(go())


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_tampered_token_is_refused(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        token, pending = await id_token_for(oidc_provider, gateway_ports)
        rp = client_for(oidc_provider, gateway_ports)
        header, payload, signature = token.split(".")
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        with pytest.raises(SsoError, match="signature does not match"):
            await rp.check_id_token(f"{header}.{payload}.{flipped}", nonce=pending.nonce)
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = _b64({**claims, "sub": "8f1c-olivia"})
        with pytest.raises(SsoError, match="signature does not match"):
            await rp.check_id_token(f"{header}.{forged}.{signature}", nonce=pending.nonce)
        unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
        with pytest.raises(SsoError, match="algorithm 'none'"):
            await rp.check_id_token(unsigned, nonce=pending.nonce)
        # The client secret is known to the client: a token "signed" with it proves nothing about the provider.
        symmetric = jwt.encode(claims, CLIENT_SECRET, algorithm="HS256",
                               headers={"kid": jwt.get_unverified_header(token)["kid"]})
        with pytest.raises(SsoError, match="algorithm 'HS256'"):
            await rp.check_id_token(symmetric, nonce=pending.nonce)

    run(go())


def test_a_key_the_provider_never_published_is_refused(oidc_provider: OidcProvider,
                                                       gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        token, pending = await id_token_for(oidc_provider, gateway_ports)
        claims = jwt.decode(token, options={"verify_signature": False})
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for kid in ("not-published", jwt.get_unverified_header(token)["kid"]):
            forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid})
            with pytest.raises(SsoError, match=r"not in the provider's JWKS|signature does not match"):
                await client_for(oidc_provider, gateway_ports).check_id_token(forged, nonce=pending.nonce)

    run(go())


def test_the_issuer_must_be_the_one_discovery_states(oidc_provider: OidcProvider,
                                                     gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        rp = OidcClient(OidcSettings(issuer=oidc_provider.issuer + "/", client_id=CLIENT_ID),
                        gateway_ports.redirect_uri(gateway_ports.api), CLIENT_SECRET)
        with pytest.raises(SsoProviderError, match="names issuer"):
            await rp.begin("/")

    run(go())


def test_a_refresh_reads_the_groups_as_they_are_now(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        rp = client_for(oidc_provider, gateway_ports)
        code, pending = await code_for(rp, "rita")
        identity = await rp.complete(code, pending)
        assert identity.groups == {"netops"}
        try:
            oidc_provider.set_user("rita", groups=["auditors"])
            again = await rp.refresh(identity.secrets, identity.subject)
            assert again.groups == {"auditors"} and again.username == "rita"
            oidc_provider.set_user("rita", removed=True)
            with pytest.raises(SsoError, match="invalid_grant"):
                await rp.refresh(again.secrets, identity.subject)
        finally:
            oidc_provider.users = [u for u in oidc_provider.users if u["username"] != "rita"]
            from tests.integration.sso.conftest import PEOPLE

            oidc_provider.users.append(dict(next(p for p in PEOPLE if p["username"] == "rita")))
            oidc_provider.set_user("rita")

    run(go())


def test_logout_goes_to_the_providers_end_session(oidc_provider: OidcProvider, gateway_ports: GatewayPorts) -> None:
    async def go() -> None:
        token, _ = await id_token_for(oidc_provider, gateway_ports)
        rp = client_for(oidc_provider, gateway_ports)
        url = await rp.logout_url(token, "http://127.0.0.1:1/login?bye=1")
        assert url is not None
        parsed = httpx.URL(url)
        assert str(parsed).startswith(oidc_provider.issuer + "/session/end?")
        assert parsed.params["id_token_hint"] == token and parsed.params["client_id"] == CLIENT_ID

    run(go())
