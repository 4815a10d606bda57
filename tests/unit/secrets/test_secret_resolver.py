from __future__ import annotations

import threading
import time

import pytest

from nornflow.exceptions import (
    SecretAccessDenied,
    SecretBackendNotInstalled,
    SecretBackendUnavailable,
    SecretError,
    SecretNotFound,
)
from nornflow.secrets import Resolver, redaction
from tests.unit.secrets.fakes import MemoryBackend


@pytest.fixture
def mem() -> MemoryBackend:
    return MemoryBackend(
        {"net/core": {"username": "core-user", "password": "core-pass-1"}, "plain": "plain-value"}
    )


def make(mem: MemoryBackend, **kw: object) -> Resolver:
    kw.setdefault("backoff", 0.01)
    return Resolver(backends={"mem": mem}, **kw)  # type: ignore[arg-type]


def test_resolves_keys_and_registers_values_for_redaction(mem: MemoryBackend) -> None:
    r = make(mem)
    assert r.resolve("secret:mem/main:net/core#password") == "core-pass-1"
    assert r.resolve("secret:mem/main:net/core#username") == "core-user"
    assert r.resolve("secret:mem/main:plain") == "plain-value"
    assert mem.reads == ["net/core", "plain"]  # one read per location, whatever the key
    assert mem.loads == 1
    assert {"core-pass-1", "core-user", "plain-value"} <= set(redaction.registered())


def test_ttl_expiry_and_refresh(mem: MemoryBackend) -> None:
    r = make(mem, ttl=0.2)
    ref = "secret:mem/main:net/core#password"
    assert r.resolve(ref) == "core-pass-1"
    mem.store["net/core"] = {"password": "core-pass-2"}
    assert r.resolve(ref) == "core-pass-1"  # cached
    assert r.refresh(ref) == "core-pass-2"  # bypasses the cache
    mem.store["net/core"] = {"password": "core-pass-3"}
    time.sleep(0.25)
    assert r.resolve(ref) == "core-pass-3"  # TTL ran out
    assert len(mem.reads) == 3


def test_concurrent_requests_for_one_location_read_once(mem: MemoryBackend) -> None:
    mem.delay = 0.05
    r = make(mem)
    results = r.resolve_many(f"secret:mem/main:net/core#password{' ' * i}" for i in range(50))
    assert set(results.values()) == {"core-pass-1"}
    assert mem.reads == ["net/core"]


def test_many_distinct_locations_resolve_in_parallel(mem: MemoryBackend) -> None:
    for i in range(16):
        mem.store[f"p{i}"] = f"v{i}"
    mem.delay = 0.1
    r = make(mem, max_workers=8)
    started = time.monotonic()
    out = r.resolve_many(f"secret:mem/main:p{i}" for i in range(16))
    assert out == {f"secret:mem/main:p{i}": f"v{i}" for i in range(16)}
    assert time.monotonic() - started < 0.9  # 16 x 0.1 s sequentially; about 0.2 s with 8 workers


def test_down_backend_retries_with_backoff_then_recovers(mem: MemoryBackend) -> None:
    mem.down_for = 2
    r = make(mem, attempts=3)
    assert r.resolve("secret:mem/main:plain") == "plain-value"
    assert len(mem.reads) == 3


def test_down_backend_gives_up_naming_the_reference(mem: MemoryBackend) -> None:
    mem.down_for = 10
    r = make(mem, attempts=3, backoff=0.02)
    started = time.monotonic()
    with pytest.raises(SecretBackendUnavailable) as info:
        r.resolve("secret:mem/main:plain")
    assert time.monotonic() - started >= 0.06  # 0.02 + 0.04 of backoff
    assert "secret:mem/main:plain" in str(info.value) and "3 attempts" in str(info.value)
    assert isinstance(info.value, ConnectionError)
    assert len(mem.reads) == 3
    # the failure is cached briefly: asking again does not hammer the backend
    with pytest.raises(SecretBackendUnavailable):
        r.resolve("secret:mem/main:plain")
    assert len(mem.reads) == 3


def test_errors_by_kind(mem: MemoryBackend) -> None:
    mem.denied.add("net/core")
    r = make(mem)
    with pytest.raises(SecretAccessDenied, match=r"secret:mem/main:net/core#password: policy forbids"):
        r.resolve("secret:mem/main:net/core#password")
    with pytest.raises(SecretNotFound, match="no block document 'nope'"):
        r.resolve("secret:mem/nope:plain")
    with pytest.raises(SecretNotFound, match="no secrets backend for block type 'missing'"):
        r.resolve("secret:missing/main:plain")
    with pytest.raises(SecretNotFound, match="no secret at absent"):
        r.resolve("secret:mem/main:absent")


def test_fallback_first_that_resolves_wins(mem: MemoryBackend) -> None:
    r = make(mem)
    assert r.resolve("secret:mem/main:absent#x || secret:mem/main:plain") == "plain-value"
    assert r.resolve(["secret:mem/nope:plain", "secret:mem/main:net/core#username"]) == "core-user"
    with pytest.raises(SecretNotFound) as info:
        r.resolve("secret:mem/main:absent || secret:mem/main:absent2")
    assert "none of the 2 fallback references" in str(info.value)
    assert "absent2" in str(info.value)


def test_missing_sdk_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from nornflow.blocks.vault import VaultSecrets

    monkeypatch.setitem(__import__("sys").modules, "hvac", None)
    monkeypatch.delitem(__import__("sys").modules, "nornflow.secrets.vault", raising=False)
    block = VaultSecrets(url="http://127.0.0.1:1", token="t")
    with pytest.raises(SecretBackendNotInstalled, match=r"pip install 'nornflow-netops\[vault\]'"):
        block.read_secret("x")


def test_third_party_error_is_wrapped_without_its_cause(mem: MemoryBackend) -> None:
    class Broken:
        def load(self, name: str) -> Broken:
            return self

        def read_secret(self, path: str, version: str | None = None) -> str:
            raise RuntimeError("boom")

    r = Resolver(backends={"broken": Broken()})
    with pytest.raises(SecretError, match=r"'broken' backend failed \(RuntimeError\): boom"):
        r.resolve("secret:broken/main:x")


def test_resolve_works_inside_a_running_event_loop(mem: MemoryBackend) -> None:
    import asyncio

    async def main() -> str:
        return make(mem).resolve("secret:mem/main:plain")

    assert asyncio.run(main()) == "plain-value"


def test_stats_count_under_threads(mem: MemoryBackend) -> None:
    r = make(mem)
    threads = [threading.Thread(target=r.resolve, args=("secret:mem/main:plain",)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.stats["reads"] == 1 and r.stats["cache_hits"] == 19
