"""An HTTPS stand-in for Azure Key Vault and its Entra ID token endpoint, for the real SecretClient.

What it speaks (enough for ``ClientSecretCredential`` + ``SecretClient.get_secret``):
- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and
  ``POST /{tenant}/oauth2/v2.0/token`` (client-credentials grant) - the authority;
- ``GET /secrets/{name}[/{version}]?api-version=...`` - the vault. A request without a
  bearer token gets the 401 challenge (``WWW-Authenticate: Bearer authorization=...,
  resource=...``) that the SDK answers by fetching a token; then 200, 403 or 404 with the
  documented bodies. TLS uses a throwaway CA (see :mod:`tests.servers.tls`).
"""

from __future__ import annotations

import secrets as pysecrets
import ssl
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.servers._http import JsonHandler, StandIn
from tests.servers.tls import make_ca_and_server_cert

RESOURCE = "https://vault.azure.net"


class _Handler(JsonHandler):
    standin: AzureKeyVaultStandIn

    def do_GET(self) -> None:
        s = self.standin
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if s.delay:
            time.sleep(s.delay)
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._openid(parts[0])
        elif parts and parts[0] == "secrets" and len(parts) in (2, 3):
            self._secret(parts[1], parts[2] if len(parts) == 3 else None)
        else:
            self.send_json(404, {"error": {"code": "NotFound", "message": "no such route"}})

    def do_POST(self) -> None:
        s = self.standin
        parts = [p for p in urlparse(self.path).path.split("/") if p]
        form = {k: v[0] for k, v in parse_qs(self.read_body().decode()).items()}
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"] or parts[0] != s.tenant:
            self.send_json(
                400, {"error": "invalid_request", "error_description": "AADSTS90002: unknown tenant"}
            )
            return
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if s.clients.get(client_id, (None,))[0] != client_secret:
            self.send_json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
            return
        token = pysecrets.token_urlsafe(24)
        s.tokens[token] = client_id
        self.send_json(
            200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token}
        )

    def _openid(self, tenant: str) -> None:
        base = f"{self.standin.url}/{tenant}"
        self.send_json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "tenant_region_scope": None,
            },
        )

    def _secret(self, name: str, version: str | None) -> None:
        s = self.standin
        auth = self.headers.get("Authorization") or ""
        client_id = s.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        if client_id is None:
            challenge = f'Bearer authorization="{s.url}/{s.tenant}", resource="{RESOURCE}"'
            self.send_json(
                401,
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "AKV10000: Request is missing a Bearer token.",
                    }
                },
                {"WWW-Authenticate": challenge},
            )
            return
        s.count(f"{name}/{version or ''}")
        if s.take_failure():
            self.send_json(503, {"error": {"code": "ServiceUnavailable", "message": "try again"}})
            return
        allowed = s.clients[client_id][1]
        if allowed is not None and name not in allowed:
            self.send_json(
                403,
                {
                    "error": {
                        "code": "Forbidden",
                        "message": f"Caller is not authorized to get secret {name}",
                        "innererror": {"code": "ForbiddenByRbac"},
                    }
                },
            )
            return
        versions = s.secrets.get(name, [])
        found = versions[-1:] if version is None else [v for v in versions if v[0] == version]
        if not found:
            self.send_json(
                404,
                {
                    "error": {
                        "code": "SecretNotFound",
                        "message": f"A secret with (name/id) {name} was not found in this key vault.",
                    }
                },
            )
            return
        vid, value = found[0]
        now = int(time.time())
        self.send_json(
            200,
            {
                "value": value,
                "id": f"{s.url}/secrets/{name}/{vid}",
                "attributes": {
                    "enabled": True,
                    "created": now,
                    "updated": now,
                    "recoveryLevel": "Recoverable+Purgeable",
                },
            },
        )


class AzureKeyVaultStandIn(StandIn):
    handler = _Handler
    scheme = "https"

    def __init__(self, workdir: Path, tenant: str = "00000000-0000-0000-0000-00000000a2e1") -> None:
        super().__init__()
        self.tenant = tenant
        self.ca_path, self._cert, self._key = make_ca_and_server_cert(workdir)
        self.clients: dict[str, tuple[str, set[str] | None]] = {}
        self.tokens: dict[str, str] = {}
        self.secrets: dict[str, list[tuple[str, str]]] = {}

    def wrap_socket(self, server: object) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        server.socket = context.wrap_socket(server.socket, server_side=True)  # type: ignore[attr-defined]

    def add_client(self, client_id: str, client_secret: str, allowed: set[str] | None = None) -> None:
        """Register a service principal; ``allowed`` limits the secret names it may read."""
        self.clients[client_id] = (client_secret, allowed)

    def put(self, name: str, value: str) -> str:
        """Store a new version of ``name``; return its version id."""
        vid = uuid.uuid4().hex
        self.secrets.setdefault(name, []).append((vid, value))
        return vid
