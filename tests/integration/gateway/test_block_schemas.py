"""Secrets cannot be un-secreted (issue 18, item 4): nornflow.gateway.policy.blocks against a real Prefect server.

The server is Prefect's own test harness, ours alone (the attacks below really run on it, to show
that each refused request is one Prefect would carry out). ``check_block_write`` reads it the way
the gateway reads a workspace: plain GETs (and ``POST /block_schemas/filter``) as the gateway.
The pure rules: tests/unit/gateway/test_blocks.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import PrefectClient
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from nornflow.gateway.policy.block_schemas import installed_schemas, is_installed, secret_fields
from nornflow.gateway.policy.blocks import check_block_write
from nornflow.gateway.policy.roles import ROLE_PERMS, Role

pytestmark = pytest.mark.integration

HIDDEN = "********"


@dataclass
class Server:
    api: str
    registered: list[tuple[str, dict[str, Any]]]  # (block type slug, schema) the server held when it started

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=30)


def _schemas_of(client: httpx.Client, block_type_id: str) -> list[dict[str, Any]]:
    reply = client.post("/block_schemas/filter", json={"block_schemas": {"block_type_id": {"any_": [block_type_id]}}})
    reply.raise_for_status()
    schemas: list[dict[str, Any]] = reply.json()
    return schemas


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with prefect_test_harness(server_startup_timeout=180):
        api = str(PREFECT_API_URL.value())
        with httpx.Client(base_url=api, timeout=30) as client:
            types = client.post("/block_types/filter", json={}).json()
            registered = [(t["slug"], s) for t in types for s in _schemas_of(client, t["id"])]
        yield Server(api, registered)


async def _fetch_with(client: httpx.AsyncClient, path: str, body: Any = None) -> tuple[int, Any]:
    reply = await (client.get(path) if body is None else client.post(path, json=body))
    return reply.status_code, (reply.json() if reply.content else None)


def decide(server: Server, route: str, body: Any, role: Role, params: dict[str, str] | None = None) -> str | None:
    """check_block_write on one request, reading the server directly (as the gateway reads its upstream)."""

    async def run() -> str | None:
        async with httpx.AsyncClient(base_url=server.api, timeout=30) as client:
            async def fetch(path: str, body: Any = None) -> tuple[int, Any]:
                return await _fetch_with(client, path, body)

            return await check_block_write(route.split()[0], route, params or {}, body, ROLE_PERMS[role], fetch)

    return asyncio.run(run())


_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUARDED = [
    ("POST", re.compile(r"/block_schemas/?"), "POST /block_schemas/"),
    ("DELETE", re.compile(rf"/block_schemas/(?P<id>{_UUID})"), "DELETE /block_schemas/{id}"),
    ("PATCH", re.compile(rf"/block_documents/(?P<id>{_UUID})"), "PATCH /block_documents/{id}"),
    ("POST", re.compile(r"/block_documents/?"), "POST /block_documents/"),
]


class Refused(Exception):
    pass


def guarded_client(server: Server, role: Role, seen: list[tuple[str, Any, str | None]]) -> PrefectClient:
    """Prefect's own client, every block write of which passes check_block_write first (as through the gateway)."""
    root = httpx.URL(server.api).path.rstrip("/")
    checker = httpx.AsyncClient(base_url=server.api, timeout=30)

    async def fetch(path: str, body: Any = None) -> tuple[int, Any]:
        return await _fetch_with(checker, path, body)

    async def hook(request: httpx.Request) -> None:
        path = request.url.path.removeprefix(root)
        for method, pattern, route in _GUARDED:
            found = pattern.fullmatch(path)
            if request.method == method and found:
                body = json.loads(request.content) if request.content else None
                reason = await check_block_write(method, route, found.groupdict(), body, ROLE_PERMS[role], fetch)
                seen.append((route, body, reason))
                if reason:
                    raise Refused(reason)
                return

    return PrefectClient(server.api, httpx_settings={"event_hooks": {"request": [hook]}})


def secret(value: Any) -> Secret[Any]:
    return Secret(value=value)


def name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


# -- what the installed code registers ---------------------------------------------------------------
def test_every_schema_the_server_registered_for_an_installed_type_is_an_installed_one(server: Server) -> None:
    installed = installed_schemas()
    checked = [(slug, s["checksum"]) for slug, s in server.registered if slug in installed]
    assert {"secret", "aws-credentials", "nornflow-vault", "gcp-credentials"} <= {slug for slug, _ in checked}
    not_installed = [(slug, s["checksum"], s["version"]) for slug, s in server.registered
                     if slug in installed and not is_installed(slug, s["checksum"], secret_fields(s["fields"]) or (),
                                                               installed)]
    assert not_installed == []


# -- the attack of the issue ---------------------------------------------------------------------------
def test_a_developer_cannot_turn_a_secret_into_plain_text(server: Server) -> None:
    value = f"hunter2-{uuid.uuid4().hex}"
    block = name()
    secret(value).save(block)
    with server.client() as prefect:
        document = prefect.get(f"/block_types/slug/secret/block_documents/name/{block}").json()
        assert document["data"] == {"value": HIDDEN}  # what a viewer reads today
        installed = prefect.get(f"/block_schemas/{document['block_schema_id']}").json()
        weak_fields = {**installed["fields"], "secret_fields": []}
        step_1 = {"fields": weak_fields, "block_type_id": installed["block_type_id"]}

        # 1. the schema without secret fields: the installed checksum (it ignores secret_fields), refused
        for role in (Role.DEVELOPER, Role.OWNER):
            reason = decide(server, "POST /block_schemas/", step_1, role)
            assert reason and "value" in reason, role
        changed = {"fields": {**weak_fields, "title": "Secret2"}, "block_type_id": installed["block_type_id"]}
        assert "installed code" in (decide(server, "POST /block_schemas/", changed, Role.DEVELOPER) or "")
        assert "value" in (decide(server, "POST /block_schemas/", changed, Role.OWNER) or "")

        # Prefect itself takes it (a schema made before the gateway, or behind its back)
        created = prefect.post("/block_schemas/", json=step_1)
        assert created.status_code == 201 and created.json()["checksum"] == installed["checksum"]
        weak_id = created.json()["id"]
        assert weak_id != installed["id"] and created.json()["fields"]["secret_fields"] == []

        # 2. the document moved onto it: refused, even to the owner
        step_2 = {"block_schema_id": weak_id, "data": {}}
        for role in (Role.DEVELOPER, Role.OWNER):
            reason = decide(server, "PATCH /block_documents/{id}", step_2, role, {"id": document["id"]})
            assert reason and "never shrink" in reason and "value" in reason, role
        # nor may a new Secret be born on it, to wait for someone to type a value into it
        born = {"name": name(), "data": {"value": "x"}, "block_schema_id": weak_id,
                "block_type_id": installed["block_type_id"]}
        for role in (Role.DEVELOPER, Role.OWNER):
            assert decide(server, "POST /block_documents/", born, role), role

        # ... and what the refused request does when Prefect gets it: the value for every viewer
        assert prefect.patch(f"/block_documents/{document['id']}", json=step_2).status_code == 204
        assert prefect.get(f"/block_documents/{document['id']}").json()["data"] == {"value": value}


def test_nested_definitions_cannot_register_a_weak_secret_schema(server: Server) -> None:
    with server.client() as prefect:
        secret_type = prefect.get("/block_types/slug/secret").json()
        fields = {**_schemas_of(prefect, secret_type["id"])[-1]["fields"], "secret_fields": [],
                  "description": "unchecked"}
        slug = name()
        block_type = prefect.post("/block_types/", json={"name": slug, "slug": slug}).json()
        parent = {"title": "Carrier", "type": "object", "properties": {"s": {"$ref": "#/definitions/Secret"}},
                  "secret_fields": [], "block_type_slug": slug, "definitions": {"Secret": fields},
                  "block_schema_references": {"s": {"block_type_slug": "secret",
                                                    "block_schema_checksum": "sha256:not-registered"}}}
        body = {"fields": parent, "block_type_id": block_type["id"]}
        reason = decide(server, "POST /block_schemas/", body, Role.OWNER)
        assert reason and "not registered" in reason

        # What Prefect does with it: a new schema of the Secret type, without secret fields
        before = {s["id"] for s in _schemas_of(prefect, secret_type["id"])}
        assert prefect.post("/block_schemas/", json=body).status_code == 201
        new = [s for s in _schemas_of(prefect, secret_type["id"]) if s["id"] not in before]
        assert [s["fields"]["secret_fields"] for s in new] == [[]]


# -- what keeps working -------------------------------------------------------------------------------
def test_secret_save_and_save_overwrite_pass_the_check(server: Server) -> None:
    block = name()
    seen: list[tuple[str, Any, str | None]] = []

    async def run() -> None:
        async with guarded_client(server, Role.DEVELOPER, seen) as client:
            await secret("first").asave(block, client=client)
            await secret("second").asave(block, overwrite=True, client=client)

    asyncio.run(run())
    with server.client() as prefect:
        document = prefect.get(f"/block_types/slug/secret/block_documents/name/{block}",
                               params={"include_secrets": True}).json()
    assert document["data"] == {"value": "second"}
    routes = [route for route, _, _ in seen]
    assert routes == ["POST /block_documents/", "POST /block_documents/", "PATCH /block_documents/{id}"]
    assert [reason for _, _, reason in seen] == [None, None, None]
    assert seen[-1][1]["block_schema_id"] == document["block_schema_id"]  # the same schema as now


def test_save_overwrite_upgrades_a_document_to_the_installed_schema(server: Server) -> None:
    block = name()
    with server.client() as prefect:
        secret_type = prefect.get("/block_types/slug/secret").json()
        installed = next(s for s in _schemas_of(prefect, secret_type["id"])
                         if is_installed("secret", s["checksum"], secret_fields(s["fields"]) or (),
                                         installed_schemas()))
        # a schema an older Prefect registered: other fields, the same secret field
        older = {"fields": {**installed["fields"], "description": "An older Secret."},
                 "block_type_id": secret_type["id"], "version": "2.20.0"}
        older_id = prefect.post("/block_schemas/", json=older).json()["id"]
        prefect.post("/block_documents/", json={"name": block, "data": {"value": "old"}, "block_schema_id": older_id,
                                                "block_type_id": secret_type["id"]}).raise_for_status()
    seen: list[tuple[str, Any, str | None]] = []

    async def run() -> None:
        async with guarded_client(server, Role.DEVELOPER, seen) as client:
            await secret("new").asave(block, overwrite=True, client=client)

    asyncio.run(run())
    patch = [(body, reason) for route, body, reason in seen if route == "PATCH /block_documents/{id}"]
    assert patch == [({"block_schema_id": installed["id"], "data": {"value": "new"}}, None)]
    with server.client() as prefect:
        document = prefect.get(f"/block_types/slug/secret/block_documents/name/{block}").json()
    assert document["block_schema_id"] == installed["id"] and document["data"] == {"value": HIDDEN}


# -- a block type no installed code registers ---------------------------------------------------------
def test_a_third_party_block_type_keeps_its_secret_field(server: Server) -> None:
    slug = name()
    with server.client() as prefect:
        type_id = prefect.post("/block_types/", json={"name": slug, "slug": slug}).json()["id"]
        fields: dict[str, Any] = {
            "title": "RouterLogin", "type": "object", "block_type_slug": slug, "block_schema_references": {},
            "properties": {"username": {"type": "string"},
                           "password": {"type": "string", "format": "password", "writeOnly": True}},
            "secret_fields": ["password"]}
        first = {"fields": fields, "block_type_id": type_id, "version": "1.0"}
        assert decide(server, "POST /block_schemas/", first, Role.DEVELOPER) is None  # a new type: anything
        strong_id = prefect.post("/block_schemas/", json=first).json()["id"]

        weak = {"fields": {**fields, "secret_fields": []}, "block_type_id": type_id, "version": "2.0"}
        without = {"fields": {**fields, "properties": {"username": {"type": "string"}}, "secret_fields": []},
                   "block_type_id": type_id, "version": "2.0"}
        for body in (weak, without):
            for role in (Role.DEVELOPER, Role.OWNER):
                reason = decide(server, "POST /block_schemas/", body, role)
                assert reason and "password" in reason, (role, body["fields"]["properties"].keys())

        more = {"fields": {**fields, "properties": {**fields["properties"], "token": {"type": "string"}},
                           "secret_fields": ["password", "token"]}, "block_type_id": type_id, "version": "2.0"}
        assert decide(server, "POST /block_schemas/", more, Role.DEVELOPER) is None
        assert prefect.post("/block_schemas/", json=more).status_code == 201
        # the type now hides token too: a schema without it is refused
        assert "token" in (decide(server, "POST /block_schemas/", {**first, "version": "3.0"}, Role.OWNER) or "")

        # a document of the type, and the weak schema made behind the gateway's back
        document_id = prefect.post("/block_documents/", json={
            "name": slug, "data": {"username": "admin", "password": "pw-123"}, "block_schema_id": strong_id,
            "block_type_id": type_id}).json()["id"]
        assert prefect.get(f"/block_documents/{document_id}").json()["data"]["password"] == HIDDEN
        weak_id = prefect.post("/block_schemas/", json=weak).json()["id"]
        move = {"block_schema_id": weak_id, "data": {}}
        for role in (Role.DEVELOPER, Role.OWNER):
            reason = decide(server, "PATCH /block_documents/{id}", move, role, {"id": document_id})
            assert reason and "password" in reason, role
        assert decide(server, "PATCH /block_documents/{id}", {"block_schema_id": strong_id, "data": {}},
                      Role.DEVELOPER, {"id": document_id}) is None  # the same schema
        assert prefect.patch(f"/block_documents/{document_id}", json=move).status_code == 204
        assert prefect.get(f"/block_documents/{document_id}").json()["data"]["password"] == "pw-123"


def test_a_document_cannot_take_a_schema_of_another_block_type(server: Server) -> None:
    with server.client() as prefect:
        secret_type = prefect.get("/block_types/slug/secret").json()
        other = prefect.get("/block_types/slug/local-file-system").json()
        foreign = _schemas_of(prefect, other["id"])[0]["id"]
    body = {"name": name(), "data": {"value": "x"}, "block_schema_id": foreign, "block_type_id": secret_type["id"]}
    assert "not of block type" in (decide(server, "POST /block_documents/", body, Role.OWNER) or "")
    missing = {**body, "block_schema_id": str(uuid.uuid4())}
    assert "not found" in (decide(server, "POST /block_documents/", missing, Role.OWNER) or "")
