"""Turn references into values: once per distinct location, cached with a TTL, in parallel.

One backend read fetches a *location* (block, path, version); every reference to that
location, whatever its ``#key``, is served from the cache until the TTL runs out. Reads of
one location are single-flight (a per-location lock), so a thousand hosts asking at once
cause one read. A down or slow backend is retried a bounded number of times with
exponential backoff, then fails with an error that names the reference, never a value.
Every value handed out is registered for redaction first.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic import ValidationError

from nornflow.exceptions import SecretBackendUnavailable, SecretError, SecretNotFound
from nornflow.secrets import redaction
from nornflow.secrets.backends import BackendRegistry, SecretSource
from nornflow.secrets.reference import Document, Location, SecretRef, extract, parse_chain

T = TypeVar("T")
RefValue = str | Sequence[str]


def chain_key(value: RefValue) -> str:
    """A hashable, printable key for a field value (a list joins with ``||``)."""
    return value if isinstance(value, str) else " || ".join(value)


class Resolver:
    """Resolves references through secrets blocks; make one per flow run."""

    def __init__(
        self,
        ttl: float = 300.0,
        *,
        max_workers: int = 8,
        attempts: int = 3,
        backoff: float = 0.25,
        failure_ttl: float = 5.0,
        backends: Mapping[str, Any] | None = None,
    ) -> None:
        self.ttl = ttl
        self.max_workers = max(1, max_workers)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.failure_ttl = failure_ttl
        self.backends = BackendRegistry(backends)
        self.stats = {"reads": 0, "cache_hits": 0, "block_loads": 0}
        self._docs: dict[Location, tuple[float, Document]] = {}
        self._failures: dict[Hashable, tuple[float, SecretError]] = {}
        self._sources: dict[tuple[str, str], SecretSource] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Resolver(ttl={self.ttl}, cached_locations={len(self._docs)}, "
            f"reads={self.stats['reads']}, cache_hits={self.stats['cache_hits']})"
        )

    # -- public API ---------------------------------------------------------------------

    def resolve(self, value: RefValue) -> str:
        """Resolve one field value (a reference, ``a || b``, or a list); first success wins."""
        return self._in_worker(lambda: self._resolve_chain(value, fresh=False))

    def refresh(self, value: RefValue) -> str:
        """Re-read the value from the backend, bypassing the cache (e.g. after a rotation)."""
        self.invalidate(value)
        return self.resolve(value)

    def invalidate(self, value: RefValue) -> None:
        """Drop the cached documents (and cached failures) behind a field value."""
        with self._guard:
            for ref in parse_chain(value):
                self._docs.pop(ref.location, None)
                self._failures.pop(ref.location, None)

    def resolve_many(self, values: Iterable[RefValue]) -> dict[str, str | SecretError]:
        """Resolve distinct field values in parallel; failures are returned, not raised."""
        distinct: dict[str, RefValue] = {}
        for value in values:
            distinct.setdefault(chain_key(value), value)
        if not distinct:
            return {}

        def one(value: RefValue) -> str | SecretError:
            try:
                return self._resolve_chain(value, fresh=False)
            except SecretError as exc:
                return exc

        workers = min(self.max_workers, len(distinct))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nornflow-secrets") as pool:
            futures = {
                key: pool.submit(contextvars.copy_context().run, one, value)
                for key, value in distinct.items()
            }
            return {key: future.result() for key, future in futures.items()}

    # -- internals ----------------------------------------------------------------------

    def _in_worker(self, fn: Callable[[], T]) -> T:
        """Run in a worker thread: Prefect's ``Block.load`` is then sync even under an event loop."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nornflow-secrets") as pool:
            return pool.submit(contextvars.copy_context().run, fn).result()

    def _resolve_chain(self, value: RefValue, *, fresh: bool) -> str:
        refs = parse_chain(value)
        errors: list[tuple[SecretRef, SecretError]] = []
        for ref in refs:
            try:
                resolved = extract(self._document(ref.location, fresh=fresh), ref)
            except SecretError as exc:
                errors.append((ref, exc))
                continue
            redaction.register(resolved)
            return resolved
        if len(errors) == 1:
            only_ref, only_exc = errors[0]
            raise type(only_exc)(_prefixed(only_ref, only_exc))
        kinds = {type(exc) for _, exc in errors}
        cls = kinds.pop() if len(kinds) == 1 else SecretError
        detail = "; ".join(f"[{i}] {_prefixed(ref, exc)}" for i, (ref, exc) in enumerate(errors, 1))
        raise cls(f"none of the {len(errors)} fallback references resolved: {detail}")

    def _count(self, name: str) -> None:
        with self._guard:
            self.stats[name] += 1

    def _lock(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _document(self, location: Location, *, fresh: bool) -> Document:
        with self._lock(location):
            now = time.monotonic()
            if not fresh:
                hit = self._docs.get(location)
                if hit is not None and hit[0] > now:
                    self._count("cache_hits")
                    return hit[1]
                failed = self._failures.get(location)
                if failed is not None and failed[0] > now:
                    raise type(failed[1])(*failed[1].args)
            try:
                document = self._read_with_retries(location)
            except SecretError as exc:
                self._failures[location] = (time.monotonic() + self.failure_ttl, exc)
                raise
            self._docs[location] = (time.monotonic() + self.ttl, document)
            self._failures.pop(location, None)
            return document

    def _read_with_retries(self, location: Location) -> Document:
        last: SecretBackendUnavailable | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                source = self._source(location.backend, location.block)
                self._count("reads")
                return source.read_secret(location.path, location.version)
            except SecretBackendUnavailable as exc:
                last = exc
                if attempt < self.attempts:
                    time.sleep(self.backoff * 2 ** (attempt - 1))
            except SecretError:
                raise
            except Exception as exc:  # a third-party backend's own error: keep its type name only
                raise SecretError(
                    f"the {location.backend!r} backend failed ({type(exc).__name__}): "
                    f"{redaction.redact_text(str(exc))[:300]}"
                ) from None
        raise SecretBackendUnavailable(
            f"{last} (gave up after {self.attempts} attempts): check that the server is up and reachable"
        )

    def _source(self, backend: str, block: str) -> SecretSource:
        key = (backend, block)
        with self._lock(("block", *key)):
            source = self._sources.get(key)
            if source is not None:
                return source
            loader = self.backends.get(backend)
            try:
                source = loader.load(block)
            except SecretError:
                raise
            except ValidationError:
                raise SecretError(
                    f"block document {block!r} of type {backend!r} does not match the installed block class: "
                    "re-save it with blocks/register.py"
                ) from None
            except (ValueError, KeyError, LookupError):
                raise SecretNotFound(
                    f"no block document {block!r} of type {backend!r}: create it "
                    "(python blocks/register.py, or the Prefect UI) or fix the name"
                ) from None
            except Exception as exc:
                raise SecretBackendUnavailable(
                    f"cannot load block {backend}/{block} from the Prefect API ({type(exc).__name__})"
                ) from None
            self._count("block_loads")
            self._sources[key] = source
            return source


def _prefixed(ref: SecretRef, exc: SecretError) -> str:
    text = str(exc)
    return text if text.startswith(str(ref)) else f"{ref}: {text}"
