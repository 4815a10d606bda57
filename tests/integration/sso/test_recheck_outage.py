"""A recheck the provider cannot answer: the session keeps its roles for a while (tried again a minute later),
and ends once it is a whole recheck interval overdue. The provider here is a closed loopback port."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.requests import Request

from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.proxy.front import Front
from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.settings import load_settings
from nornflow.gateway.sso.groups import Identity
from nornflow.gateway.sso.routes import SsoRoutes
from nornflow.gateway.store import GatewayStore

pytestmark = pytest.mark.integration


def test_an_unreachable_provider_postpones_the_recheck_then_ends_the_session(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path, workspaces=[{"name": "core"}], sso={
        "recheck_minutes": 15, "group_roles": {"netops": {"core": ["viewer"]}},
        "oidc": {"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "nornflow", "client_secret": "x"}})
    now = [1_000_000.0]
    store = GatewayStore(settings.store_path)
    audit = AuditLog(settings.audit_path)
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
                       "client": ("127.0.0.1", 1)})

    async def go() -> None:
        sso = SsoRoutes(settings, store, Front(settings, audit), ["core"], clock=lambda: now[0])
        identity = Identity("oidc", "sub-1", "ana", frozenset({"netops"}), {"refresh_token": "r", "nonce": "n"})
        sso.sign_in(identity, request)
        session_id = store.create_session("ana", idle=timedelta(days=1), absolute=timedelta(days=1))
        sso.remember(session_id, identity)
        now[0] += 15 * 60 + 1  # due: the provider does not answer
        await sso.recheck(request, session_id)
        assert store.get_session(session_id) is not None
        assert sso.state.session(session_id).recheck_at == pytest.approx(now[0] + 60)  # type: ignore[union-attr]
        now[0] += 14 * 60  # 29 minutes since the provider last vouched: still within one interval overdue
        await sso.recheck(request, session_id)
        assert store.get_session(session_id) is not None
        now[0] += 2 * 60  # 31 minutes: a whole interval overdue
        await sso.recheck(request, session_id)
        assert store.get_session(session_id) is None
        assert "could not be rechecked" in audit.tail(limit=10, user="ana")[-1]["detail"]["reason"]
        await sso.aclose()

    asyncio.run(go())
