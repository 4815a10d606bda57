"""OpenID Connect, the relying party's half: discovery, the authorization code flow with PKCE (S256),
the ID token checked against the provider's JWKS, refresh, and RP-initiated logout.

What an ID token must pass before anyone is logged in (OpenID Connect Core 3.1.3.7):

- a signature by a key in the provider's JWKS (fetched again once when a new ``kid`` appears, so a
  key rotation needs no restart), with an *asymmetric* algorithm from the settings' list;
- ``iss`` equal to the configured issuer, which discovery must state exactly;
- ``aud`` holding this client id (and ``azp`` equal to it when there are several audiences);
- ``exp``, ``iat`` (and ``nbf`` when present) within ``clock_skew_seconds`` of this gateway's clock;
- ``nonce`` equal to the one this login sent; ``sub`` present (and unchanged on a refresh).

``state`` and the browser binding are the caller's to check (:mod:`.routes`); this module gives
the values to keep (:class:`Pending`) and checks the rest. Nothing here logs or puts into an
exception a code, a token or the client secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt

from nornflow.gateway.sso.errors import SsoError, SsoProviderError
from nornflow.gateway.sso.groups import Identity, groups_from, user_name
from nornflow.gateway.sso.settings import OidcSettings, _loopback

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL = 3600.0  # seconds a discovery document is trusted before it is read again
JWKS_REFETCH_EVERY = 30.0  # an unknown kid fetches the JWKS again at most this often
PENDING_TTL = 600.0  # seconds a login may spend at the provider


@dataclass(frozen=True)
class Discovery:
    """The parts of the provider's discovery document this gateway uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    #: RFC 9207: the provider names itself in every authorization response (a callback without it is refused).
    iss_in_response: bool = False


@dataclass(frozen=True)
class Pending:
    """What a login keeps while the person is at the provider: checked and spent by the callback."""

    state: str
    nonce: str
    code_verifier: str
    next_url: str
    created_at: float

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Pending:
        return cls(**json.loads(text))


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _endpoint(document: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = document.get(key)
    if value is None and not required:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SsoProviderError(f"the provider's discovery document has no usable {key} (got {value!r})")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise SsoProviderError(f"the provider's {key} {value!r} is plain http: only https is accepted off loopback")
    return str(value)


def _provider_error(reply: httpx.Response, what: str) -> SsoError:
    """The provider's OAuth error code (and description), clipped: never the request we sent."""
    try:
        body = reply.json()
    except ValueError:
        body = {}
    code = str(body.get("error", "")) if isinstance(body, dict) else ""
    described = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    text = f"{code}: {described}" if described else code or f"HTTP {reply.status_code}"
    text = "".join(c for c in text if c.isprintable())[:200]
    if code == "invalid_grant":
        return SsoError(f"the provider refused {what} (invalid_grant: used already, expired, or issued for another "
                        "login); log in again")
    return SsoProviderError(f"the provider refused {what} ({text})")


class OidcClient:
    """One OpenID provider, as this gateway's client. Safe to share across requests (one event loop)."""

    def __init__(self, settings: OidcSettings, redirect_uri: str, client_secret: str | None, *,
                 clock: Callable[[], float] = time.time, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri
        self._secret = client_secret
        self._clock = clock
        verify: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(settings.ca_file))
        self._http = httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False, verify=verify,
                                       transport=transport, headers={"accept": "application/json"})
        self._discovery: tuple[float, Discovery] | None = None
        self._jwks: tuple[float, jwt.PyJWKSet] | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OidcClient(issuer={self.settings.issuer!r}, client_id={self.settings.client_id!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the provider's documents ------------------------------------------------------------------
    async def _get_json(self, url: str, what: str) -> Any:
        try:
            reply = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise SsoProviderError(f"the identity provider did not answer for its {what} at {url} "
                                   f"({type(exc).__name__}); check the issuer setting and the network") from None
        if reply.status_code != 200:
            raise SsoProviderError(f"the identity provider answered HTTP {reply.status_code} for its {what} at {url}")
        try:
            return reply.json()
        except ValueError:
            raise SsoProviderError(f"the identity provider's {what} at {url} is not JSON") from None

    async def discovery(self) -> Discovery:
        """The discovery document (read again after an hour); its issuer must be the configured one exactly."""
        now = self._clock()
        if self._discovery is not None and now - self._discovery[0] < DISCOVERY_TTL:
            return self._discovery[1]
        url = self.settings.issuer.rstrip("/") + DISCOVERY_PATH
        document = await self._get_json(url, "discovery document")
        if not isinstance(document, dict):
            raise SsoProviderError(f"the discovery document at {url} is not a JSON object")
        if document.get("issuer") != self.settings.issuer:
            raise SsoProviderError(f"the discovery document at {url} names issuer {document.get('issuer')!r}, not "
                                   f"the configured {self.settings.issuer!r}: set the issuer exactly as the provider "
                                   "states it")
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise SsoProviderError("the provider does not offer PKCE with S256 (code_challenge_methods_supported: "
                                   f"{methods}); the gateway requires it")
        found = Discovery(
            issuer=self.settings.issuer,
            authorization_endpoint=str(_endpoint(document, "authorization_endpoint")),
            token_endpoint=str(_endpoint(document, "token_endpoint")),
            jwks_uri=str(_endpoint(document, "jwks_uri")),
            userinfo_endpoint=_endpoint(document, "userinfo_endpoint", required=False),
            end_session_endpoint=_endpoint(document, "end_session_endpoint", required=False),
            iss_in_response=document.get("authorization_response_iss_parameter_supported") is True,
        )
        self._discovery = (now, found)
        return found

    async def _key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The JWKS key that signed a token: fetched again (at most every 30 s) when the kid is new."""
        async with self._lock:
            for attempt in (0, 1):
                now = self._clock()
                stale = self._jwks is None or (attempt == 1 and now - self._jwks[0] >= JWKS_REFETCH_EVERY)
                if stale:
                    discovery = await self.discovery()
                    data = await self._get_json(discovery.jwks_uri, "JWKS")
                    try:
                        self._jwks = (now, jwt.PyJWKSet.from_dict(data))
                    except (jwt.PyJWKSetError, jwt.InvalidKeyError, TypeError, ValueError):
                        raise SsoProviderError("the provider's JWKS holds no usable signing key") from None
                assert self._jwks is not None
                keys = [k for k in self._jwks[1].keys if k.public_key_use in (None, "sig")]
                matching = [k for k in keys if k.key_id == kid] if kid is not None else keys
                if len(matching) == 1:
                    return matching[0]
                if kid is None and len(matching) > 1:
                    raise SsoError("the ID token names no key (kid) and the provider has several: refused")
        raise SsoError(f"the ID token was signed with key {kid!r}, which is not in the provider's JWKS: refused")

    # -- the ID token ------------------------------------------------------------------------------
    async def check_id_token(self, token: str, *, nonce: str | None, subject: str | None = None,
                             nonce_optional: bool = False) -> dict[str, Any]:
        """The ID token's claims once every check of the module doc passed; SsoError naming the one that failed."""
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise SsoError("the ID token is not a signed JWT: refused") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise SsoError(f"the ID token's algorithm {alg!r} is not one the gateway accepts "
                           f"({', '.join(s.algorithms)})")
        key = await self._key_for(header.get("kid"), str(alg))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=[str(alg)],
                options={"verify_signature": True, "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "verify_aud": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            raise SsoError("the ID token's signature does not match the provider's key: refused") from None
        except jwt.InvalidTokenError as exc:
            raise SsoError(f"the ID token could not be read ({type(exc).__name__}): refused") from None
        if claims.get("iss") != s.issuer:
            raise SsoError(f"the ID token was issued by {claims.get('iss')!r}, not {s.issuer!r}: refused")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if s.client_id not in audiences:
            raise SsoError("the ID token's audience is not this gateway (its client id): refused")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != s.client_id:
            raise SsoError("the ID token was issued to another party (azp): refused")
        now, skew = self._clock(), s.clock_skew_seconds
        for name in ("exp", "iat"):
            if not isinstance(claims.get(name), int | float) or isinstance(claims.get(name), bool):
                raise SsoError(f"the ID token has no numeric {name}: refused")
        if now > claims["exp"] + skew:
            raise SsoError(f"the ID token expired {int(now - claims['exp'])} s ago (clock skew allowed: {skew} s): "
                           "log in again, or check this host's clock")
        if claims["iat"] > now + skew:
            raise SsoError(f"the ID token is issued {int(claims['iat'] - now)} s in the future (clock skew allowed: "
                           f"{skew} s): check this host's clock")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > now + skew:
            raise SsoError("the ID token is not valid yet (nbf): check this host's clock")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise SsoError("the ID token names no subject (sub): refused")
        if subject is not None and claims["sub"] != subject:
            raise SsoError("the refreshed ID token is for another subject: refused")
        got = claims.get("nonce")
        if nonce is not None and not (nonce_optional and got is None) and \
                (not isinstance(got, str) or not secrets.compare_digest(got, nonce)):
            raise SsoError("the ID token's nonce is not the one this login sent (a replayed or foreign token): "
                           "refused")
        return claims

    # -- the flow ----------------------------------------------------------------------------------
    async def begin(self, next_url: str) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what to keep until the callback."""
        discovery = await self.discovery()
        pending = Pending(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                          code_verifier=secrets.token_urlsafe(64), next_url=next_url, created_at=self._clock())
        query = urlencode({
            "response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.settings.scopes), "state": pending.state, "nonce": pending.nonce,
            "code_challenge": pkce_challenge(pending.code_verifier), "code_challenge_method": "S256",
        })
        separator = "&" if urlsplit(discovery.authorization_endpoint).query else "?"
        return f"{discovery.authorization_endpoint}{separator}{query}", pending

    async def _token_request(self, form: dict[str, str], what: str) -> dict[str, Any]:
        discovery = await self.discovery()
        auth: httpx.BasicAuth | None = None
        form = dict(form)
        if self._secret is None:
            form["client_id"] = self.settings.client_id
        elif self.settings.token_auth_method == "client_secret_post":  # noqa: S105 - a method's name
            form.update(client_id=self.settings.client_id, client_secret=self._secret)
        else:  # RFC 6749 2.3.1: both form-encoded before Basic
            auth = httpx.BasicAuth(quote(self.settings.client_id, safe=""), quote(self._secret, safe=""))
        try:
            reply = await (self._http.post(discovery.token_endpoint, data=form, auth=auth) if auth is not None
                           else self._http.post(discovery.token_endpoint, data=form))
        except httpx.HTTPError as exc:
            raise SsoProviderError(f"the identity provider's token endpoint did not answer ({type(exc).__name__})") \
                from None
        if reply.status_code != 200:
            raise _provider_error(reply, what)
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or (not isinstance(body.get("id_token"), str) and what == "the login code"):
            raise SsoProviderError(f"the provider's answer to {what} holds no ID token (is 'openid' in scopes?)")
        return body

    async def complete(self, code: str, pending: Pending) -> Identity:
        """Exchange the code (with the PKCE verifier), check the ID token, read the claims: who signed in."""
        if not code or len(code) > 2048:
            raise SsoError("the provider's callback has no usable code: log in again")
        if self._clock() - pending.created_at > PENDING_TTL:
            raise SsoError("the login took longer than 10 minutes at the provider: log in again")
        tokens = await self._token_request({"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": self.redirect_uri,
                                            "code_verifier": pending.code_verifier}, "the login code")
        claims = await self.check_id_token(tokens["id_token"], nonce=pending.nonce)
        return await self._identity(claims, tokens, nonce=pending.nonce)

    async def refresh(self, secrets_: Mapping[str, str], subject: str) -> Identity:
        """Ask the provider again who ``subject`` is (a refresh-token grant): the groups as they are now.
        SsoError when the provider no longer vouches for them (refresh token revoked, account disabled)."""
        refresh_token = secrets_.get("refresh_token")
        if not refresh_token:
            raise SsoError("the provider gave no refresh token at login, so the session cannot be rechecked: "
                           "log in again")
        tokens = await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token},
                                           "the session's refresh token")
        nonce = secrets_.get("nonce")
        if isinstance(tokens.get("id_token"), str):
            claims = await self.check_id_token(tokens["id_token"], nonce=nonce, subject=subject, nonce_optional=True)
        else:
            claims = {"sub": subject}
        tokens.setdefault("refresh_token", refresh_token)  # a provider that does not rotate keeps the old one
        tokens.setdefault("id_token", secrets_.get("id_token", ""))
        return await self._identity(claims, tokens, nonce=nonce)

    async def _identity(self, claims: dict[str, Any], tokens: Mapping[str, Any], nonce: str | None) -> Identity:
        s = self.settings
        if s.username_claim not in claims or s.groups_claim not in claims:
            claims = {**(await self._userinfo(tokens.get("access_token"), claims["sub"])), **claims}
        kept = {"id_token": str(tokens.get("id_token") or ""), "nonce": nonce or ""}
        if isinstance(tokens.get("refresh_token"), str):
            kept["refresh_token"] = tokens["refresh_token"]
        return Identity(
            source="oidc", subject=str(claims["sub"]),
            username=user_name(claims.get(s.username_claim), f"the provider's {s.username_claim} claim"),
            groups=groups_from(claims.get(s.groups_claim), f"the provider's {s.groups_claim} claim"),
            secrets=kept)

    async def _userinfo(self, access_token: object, subject: str) -> dict[str, Any]:
        """The UserInfo claims (for providers that keep groups out of the ID token); its sub must match."""
        discovery = await self.discovery()
        if discovery.userinfo_endpoint is None or not isinstance(access_token, str):
            return {}
        try:
            reply = await self._http.get(discovery.userinfo_endpoint,
                                         headers={"authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise SsoProviderError(f"the provider's userinfo endpoint did not answer ({type(exc).__name__})") from None
        if reply.status_code != 200 or not reply.headers.get("content-type", "").startswith("application/json"):
            raise SsoProviderError(f"the provider's userinfo endpoint answered HTTP {reply.status_code} "
                                   f"({reply.headers.get('content-type', 'no content type')}); JSON is expected")
        info = reply.json()
        if not isinstance(info, dict) or info.get("sub") != subject:
            raise SsoError("the provider's userinfo is for another subject than the ID token: refused")
        return info

    async def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """The provider's end-session URL (RP-initiated logout) when it advertises one, else None."""
        try:
            discovery = await self.discovery()
        except SsoError:
            return None
        if discovery.end_session_endpoint is None:
            return None
        params = {"client_id": self.settings.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:
            params["id_token_hint"] = id_token
        separator = "&" if urlsplit(discovery.end_session_endpoint).query else "?"
        return f"{discovery.end_session_endpoint}{separator}{urlencode(params)}"
