"""Prefect's own Secret block (slug ``secret``), through the session's Prefect test server."""

from __future__ import annotations

import pytest
from prefect.blocks.system import Secret

from nornflow.exceptions import SecretError, SecretNotFound
from nornflow.secrets import Resolver, resolve_inventory
from tests.unit.secrets.fakes import inventory


@pytest.fixture(scope="module")
def prefect_secrets() -> None:
    Secret(value="prefect-lab-pw").save("it-lab-password", overwrite=True)
    Secret(value={"username": "labuser", "password": "prefect-json-pw"}).save("it-lab-creds", overwrite=True)


def test_string_and_json_secret(prefect_secrets: None) -> None:
    r = Resolver()
    assert r.resolve("secret:secret/it-lab-password") == "prefect-lab-pw"
    assert r.resolve("secret:secret/it-lab-creds#username") == "labuser"


def test_unknown_block_and_path_misuse(prefect_secrets: None) -> None:
    r = Resolver()
    with pytest.raises(SecretNotFound, match="no block document 'it-nope' of type 'secret'"):
        r.resolve("secret:secret/it-nope")
    with pytest.raises(SecretError, match="holds one value"):
        r.resolve("secret:secret/it-lab-password:some/path")


def test_fallback_to_prefect_secret(prefect_secrets: None) -> None:
    value = "secret:nornflow-vault/it-not-saved:network/core#password || secret:secret/it-lab-password"
    inv = inventory({"r1": {"password": value}})
    assert resolve_inventory(inv, Resolver()) == {}
    assert inv.hosts["r1"].password == "prefect-lab-pw"


def test_resolves_from_async_code(prefect_secrets: None) -> None:
    """Inside an event loop Block.load would return a coroutine; the resolver reads in a worker thread."""
    import asyncio

    async def main() -> str:
        return Resolver().resolve("secret:secret/it-lab-password")

    assert asyncio.run(main()) == "prefect-lab-pw"


def test_a_rotated_secret_is_read_again_once_the_cache_expires(prefect_secrets: None) -> None:
    """The loaded block holds the value it was loaded with: the next read after the TTL loads it again."""
    Secret(value="before-rotation").save("it-rotated", overwrite=True)
    r = Resolver(ttl=0.0)
    assert r.resolve("secret:secret/it-rotated") == "before-rotation"
    Secret(value="after-rotation").save("it-rotated", overwrite=True)
    assert r.resolve("secret:secret/it-rotated") == "after-rotation"
    cached = Resolver()
    assert cached.resolve("secret:secret/it-rotated") == "after-rotation"
    Secret(value="third").save("it-rotated", overwrite=True)
    assert cached.resolve("secret:secret/it-rotated") == "after-rotation"  # within the TTL: the cached value
