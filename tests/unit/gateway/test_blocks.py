"""Block schema and block document writes: the pure decisions of nornflow.gateway.policy.block_schemas and
the write guard of nornflow.gateway.policy.blocks (issue 18, item 4).

The same rules against a real Prefect server: tests/integration/gateway/test_block_schemas.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_aws import AwsCredentials
from pydantic import SecretStr

from nornflow.blocks.vault import VaultSecrets
from nornflow.gateway.policy.block_schemas import (
    Schema,
    installed_schemas,
    is_installed,
    new_document_refusal,
    new_schema_refusal,
    schema_change_refusal,
    schema_checksum,
    secret_fields,
    uncovered,
)
from nornflow.gateway.policy.blocks import ROUTES, check_block_write
from nornflow.gateway.policy.roles import ROLE_PERMS, Role


class RouterLogin(Block):
    """A block defined here, outside every installed package: a third-party block for the rules."""

    _block_type_slug: ClassVar[str] = "nornflow-test-router-login"
    username: str = "admin"
    password: SecretStr = SecretStr("pw")


SECRET = Secret._calculate_schema_checksum()
TYPE_A = "11111111-1111-4111-8111-111111111111"
TYPE_B = "22222222-2222-4222-8222-222222222222"
DOC = "33333333-3333-4333-8333-333333333333"
SCHEMA = "44444444-4444-4444-8444-444444444444"
DEVELOPER = ROLE_PERMS[Role.DEVELOPER]
OWNER = ROLE_PERMS[Role.OWNER]


def schema(id_: str, checksum: str, *secrets: str, type_id: str = TYPE_A) -> Schema:
    return Schema(id_, type_id, checksum, frozenset(secrets))


# -- what the installed code registers -------------------------------------------------------------
def test_installed_schemas_hold_prefect_collections_and_nornflow_blocks() -> None:
    installed = installed_schemas()
    assert installed["secret"][SECRET] == {"value"}
    assert installed["aws-credentials"][AwsCredentials._calculate_schema_checksum()] == {"aws_secret_access_key"}
    assert installed["nornflow-vault"][VaultSecrets._calculate_schema_checksum()] == {"token", "secret_id"}
    assert "gcp-credentials" in installed  # registered by the server from collection_blocks_data.json
    assert installed_schemas() is installed  # computed once


def test_a_block_class_outside_the_installed_packages_is_third_party() -> None:
    assert RouterLogin.get_block_type_slug() == "nornflow-test-router-login"
    assert "nornflow-test-router-login" not in installed_schemas()


def test_the_checksum_is_prefects_and_does_not_see_secret_fields() -> None:
    fields = Secret.model_json_schema()
    assert schema_checksum(fields) == SECRET
    # Why a checksum match alone proves nothing: the attack's schema has the installed checksum.
    assert schema_checksum({**fields, "secret_fields": []}) == SECRET
    assert schema_checksum({**fields, "title": "Other"}) != SECRET


# -- secret fields -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "expected"), [
    ({}, frozenset()),
    ({"secret_fields": []}, frozenset()),
    ({"secret_fields": ["a", "b.*"]}, frozenset({"a", "b.*"})),
    ({"secret_fields": "value"}, None),  # Prefect would iterate the letters
    ({"secret_fields": ["a", 1]}, None),
    ({"secret_fields": None}, None),
    ("not an object", None),
])
def test_secret_fields(fields: Any, expected: frozenset[str] | None) -> None:
    assert secret_fields(fields) == expected


@pytest.mark.parametrize(("new", "old", "missing"), [
    (["value"], ["value"], []),
    ([], ["value"], ["value"]),
    (["value", "other"], ["value"], []),
    (["value.*"], ["value"], []),  # a wildcard hides the key itself and everything under it
    (["value.*"], ["value.key", "value.*"], []),
    (["a.*"], ["a.b.*"], []),
    (["a.b.*"], ["a.*"], ["a.*"]),  # a narrower wildcard
    (["a"], ["a.b"], ["a.b"]),  # an exact key does not hide the keys under it
    (["a.b"], ["a.*"], ["a.*"]),
    (["*"], ["x", "y.z", "w.*"], []),
    (["valu"], ["value"], ["value"]),
    (["b", "a"], ["a", "c", "b"], ["c"]),
])
def test_uncovered(new: list[str], old: list[str], missing: list[str]) -> None:
    assert uncovered(new, old) == missing


# -- POST /block_schemas/ ----------------------------------------------------------------------------
INSTALLED = {"secret": {SECRET: frozenset({"value"})}}


@pytest.mark.parametrize("owner", [False, True])
def test_the_installed_schema_may_be_registered(owner: bool) -> None:
    assert new_schema_refusal("secret", SECRET, frozenset({"value"}), None, INSTALLED, owner) is None


@pytest.mark.parametrize("owner", [False, True])
def test_the_installed_checksum_without_its_secret_fields_is_refused_even_to_the_owner(owner: bool) -> None:
    reason = new_schema_refusal("secret", SECRET, frozenset(), None, INSTALLED, owner)
    assert reason and "value" in reason


def test_another_schema_for_an_installed_type_is_the_owners_and_keeps_the_secrets() -> None:
    assert "owner" in (new_schema_refusal("secret", "sha256:other", frozenset({"value"}), frozenset(),
                                          INSTALLED, owner=False) or "")
    assert new_schema_refusal("secret", "sha256:other", frozenset({"value", "x"}), frozenset(), INSTALLED,
                              owner=True) is None
    # the owner's schema must hide what the installed schemas hide, and what the server's schemas hide
    assert "value" in (new_schema_refusal("secret", "sha256:other", frozenset({"x"}), frozenset(), INSTALLED,
                                          owner=True) or "")
    assert "old" in (new_schema_refusal("secret", "sha256:other", frozenset({"value"}), frozenset({"old"}),
                                        INSTALLED, owner=True) or "")


@pytest.mark.parametrize("owner", [False, True])
def test_a_third_party_schema_keeps_the_secret_fields_of_the_types_schemas(owner: bool) -> None:
    floor = frozenset({"password"})
    assert new_schema_refusal("acme", "sha256:x", frozenset({"password", "token"}), floor, INSTALLED, owner) is None
    assert new_schema_refusal("acme", "sha256:x", frozenset({"*"}), floor, INSTALLED, owner) is None
    reason = new_schema_refusal("acme", "sha256:x", frozenset({"token"}), floor, INSTALLED, owner)
    assert reason and "password" in reason
    assert new_schema_refusal("acme", "sha256:x", frozenset(), frozenset(), INSTALLED, owner) is None  # a new type


def test_a_third_party_decision_needs_the_types_schemas() -> None:
    with pytest.raises(ValueError, match="needed"):
        new_schema_refusal("acme", "sha256:x", frozenset(), None, INSTALLED, owner=True)


# -- PATCH /block_documents/{id} -------------------------------------------------------------------
CURRENT = schema("c", SECRET, "value")
WEAK = schema("w", SECRET)  # the attack's schema: installed checksum, no secret fields


@pytest.mark.parametrize("owner", [False, True])
def test_moving_a_secret_to_a_schema_without_its_secret_fields_is_refused_even_to_the_owner(owner: bool) -> None:
    reason = schema_change_refusal("secret", CURRENT, WEAK, INSTALLED, owner)
    assert reason and "value" in reason and "never shrink" in reason


def test_keeping_the_schema_is_always_allowed() -> None:
    assert schema_change_refusal("secret", WEAK, WEAK, INSTALLED, owner=False) is None


@pytest.mark.parametrize("owner", [False, True])
def test_the_upgrade_to_the_installed_schema_is_allowed(owner: bool) -> None:
    older = schema("o", "sha256:older", "value")
    assert schema_change_refusal("secret", older, CURRENT, INSTALLED, owner) is None


def test_a_schema_of_another_block_type_is_refused() -> None:
    other = schema("x", SECRET, "value", type_id=TYPE_B)
    assert "block type" in (schema_change_refusal("secret", CURRENT, other, INSTALLED, owner=True) or "")


def test_a_non_installed_schema_of_an_installed_type_is_the_owners() -> None:
    other = schema("x", "sha256:other", "value", "extra")
    assert "owner" in (schema_change_refusal("secret", CURRENT, other, INSTALLED, owner=False) or "")
    assert schema_change_refusal("secret", CURRENT, other, INSTALLED, owner=True) is None


def test_a_third_party_document_moves_to_any_schema_that_keeps_its_secrets() -> None:
    current = schema("c", "sha256:a", "password")
    assert schema_change_refusal("acme", current, schema("n", "sha256:b", "password", "token"), INSTALLED,
                                 owner=False) is None
    assert "password" in (schema_change_refusal("acme", current, schema("n", "sha256:b", "token"), INSTALLED,
                                                owner=True) or "")


# -- POST /block_documents/ ------------------------------------------------------------------------
def test_a_new_document_needs_a_schema_of_its_type() -> None:
    assert "block type" in (new_document_refusal("secret", TYPE_B, CURRENT, INSTALLED, owner=True) or "")
    assert new_document_refusal("secret", TYPE_A, CURRENT, INSTALLED, owner=False) is None


def test_a_new_secret_document_on_a_weak_schema_is_refused() -> None:
    assert "owner" in (new_document_refusal("secret", TYPE_A, WEAK, INSTALLED, owner=False) or "")
    assert "value" in (new_document_refusal("secret", TYPE_A, WEAK, INSTALLED, owner=True) or "")
    assert new_document_refusal("acme", TYPE_A, schema("n", "sha256:b"), INSTALLED, owner=False) is None


def test_is_installed() -> None:
    assert is_installed("secret", SECRET, {"value"}, INSTALLED)
    assert not is_installed("secret", SECRET, set(), INSTALLED)
    assert not is_installed("secret", "sha256:other", {"value"}, INSTALLED)
    assert not is_installed("acme", SECRET, {"value"}, INSTALLED)


# -- check_block_write before it reads anything -----------------------------------------------------
async def unreachable(path: str, body: Any = None) -> tuple[int, Any]:
    raise AssertionError(f"no read expected, got {path}")


def check(method: str, route: str, body: Any, perms: frozenset[Any] = DEVELOPER,
          params: dict[str, str] | None = None) -> str | None:
    return asyncio.run(check_block_write(method, route, params or {"id": DOC}, body, perms, unreachable))


def test_deleting_a_block_schema_is_the_owners() -> None:
    route = "DELETE /block_schemas/{id}"
    assert "owner" in (check("DELETE", route, None, params={"id": SCHEMA}) or "")
    assert check("DELETE", route, None, OWNER, params={"id": SCHEMA}) is None


@pytest.mark.parametrize(("route", "body"), [
    ("POST /block_schemas/", {"fields": {}, "block_type_id": TYPE_A, "extra": 1}),  # Prefect: extra="forbid"
    ("POST /block_schemas/", {"fields": {}, "block_type_id": "not-a-uuid"}),
    ("POST /block_schemas/", {"fields": {"secret_fields": "value"}, "block_type_id": TYPE_A}),
    ("POST /block_schemas/", ["not", "an", "object"]),
    ("PATCH /block_documents/{id}", {"block_schema_id": "nope"}),
    ("PATCH /block_documents/{id}", {"data": {}, "merge": False}),
    ("POST /block_documents/", {"name": "x", "data": {}, "block_type_id": TYPE_A}),  # no block_schema_id
])
def test_a_body_prefect_would_not_accept_is_refused_unread(route: str, body: Any) -> None:
    reason = check(route.split()[0], route, body, OWNER)
    assert reason and ("not what Prefect accepts" in reason or "secret_fields" in reason)


def test_a_document_write_without_a_schema_change_reads_nothing() -> None:
    assert check("PATCH", "PATCH /block_documents/{id}", {"data": {"value": "x"}}) is None
    assert check("PATCH", "PATCH /block_documents/{id}", {"data": {}, "block_schema_id": None}) is None


def test_a_method_that_does_not_match_the_route_is_refused() -> None:
    assert check("GET", "DELETE /block_schemas/{id}", None, OWNER, params={"id": SCHEMA})


def test_other_routes_pass() -> None:
    assert check("DELETE", "DELETE /block_documents/{id}", None) is None
    assert check("POST", "POST /block_types/", {"name": "x", "slug": "x"}) is None
    assert {"POST /block_schemas/", "DELETE /block_schemas/{id}", "PATCH /block_documents/{id}",
                      "POST /block_documents/"} == ROUTES
