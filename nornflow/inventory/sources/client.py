"""HTTP to a source of truth: the token header, paginated reads, and errors that say what to check.

Every failure names the server and what to do; none carries the token (it is sent as a
header, and every text passes through :func:`nornflow.secrets.redaction.redact_text` as well).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from nornflow.inventory.sources.exceptions import SourceAccessDenied, SourceError, SourceUnavailable
from nornflow.inventory.sources.spec import SourceSpec
from nornflow.secrets.redaction import redact_text

Params = Mapping[str, Any]


def _detail(response: httpx.Response) -> str:
    """What the server said about an error, on one short line."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        text = str(body.get("detail", body)) if isinstance(body, dict) else str(body)
    return redact_text(" ".join(text.split())[:300]) or response.reason_phrase


class SourceClient:
    """One HTTP client per inventory load; close it (or use ``with``) when done."""

    def __init__(self, spec: SourceSpec, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self.spec = spec
        self.requests = 0
        verify: bool | ssl.SSLContext = spec.verify if isinstance(spec.verify, bool) else \
            ssl.create_default_context(cafile=spec.verify)
        self._http = httpx.Client(
            base_url=f"{spec.url}/api/", timeout=spec.timeout, verify=verify, transport=transport,
            headers={"Authorization": f"{_scheme(token)} {token}", "Accept": "application/json"},
        )

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- one request ------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Params | None = None, json: Any = None) -> Any:
        """The decoded JSON answer; raise a :class:`SourceError` child that says what to check."""
        spec = self.spec
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException:
            raise SourceUnavailable(
                f"{spec.label} did not answer {path} within {spec.timeout:.0f} s: check the server's load, "
                f"or raise timeout (or lower page_size, now {spec.page_size}) in {spec.where}"
            ) from None
        except httpx.TransportError as exc:
            raise SourceUnavailable(
                f"{spec.label} is not reachable ({type(exc).__name__}: {redact_text(str(exc))[:200]}): "
                f"check that the server is up, the url in {spec.where} (scheme, host, port), "
                "and that this machine can reach it (DNS, proxy, firewall, TLS)"
            ) from None
        self.requests += 1
        status = response.status_code
        if status in (401, 403):
            raise SourceAccessDenied(
                f"{spec.label} refused the API token (HTTP {status}: {_detail(response)}): check the token "
                f"that {_ref_text(spec.token)} holds (expired? for this server?) and that its user may view "
                "devices"
            )
        if 300 <= status < 400:
            raise SourceError(f"{spec.label} redirects {path} to {response.headers.get('location')}: "
                              f"put the final address in url: in {spec.where}")
        if status == 404:
            raise SourceError(f"{spec.label} has no API at {response.url.copy_with(query=None)} (HTTP 404): "
                              f"url in {spec.where} should be the server's root, e.g. https://host")
        if status >= 500:
            raise SourceUnavailable(f"{spec.label} failed to answer {path} (HTTP {status}: {_detail(response)}): "
                                    "see the server's log")
        if status >= 400:
            raise SourceError(f"{spec.label} rejected the query (HTTP {status}: {_detail(response)}): "
                              f"check filters ({spec.filters.describe()}) in {spec.where}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(
                f"{spec.label} answered {path} with {response.headers.get('content-type', 'no content type')}, "
                f"not JSON: is {spec.url} a {spec.source} server?"
            ) from None

    # -- many pages ---------------------------------------------------------------------------

    def rest_list(self, path: str, params: Params) -> list[dict[str, Any]]:
        """Every object of a list endpoint: the first page tells the count, the rest come in parallel."""
        size = self.spec.page_size
        first = self.request("GET", path, params={**params, "limit": size, "offset": 0})
        results: list[dict[str, Any]] = list(first.get("results") or [])
        count = first.get("count")
        if not isinstance(count, int):  # no count: follow the links one by one
            link = first.get("next")
            while link:
                following = self.request("GET", link)
                results.extend(following.get("results") or [])
                link = following.get("next")
            return results
        step = len(results) or size  # the server may cap the page size (MAX_PAGE_SIZE) below ours
        offsets = list(range(step, count, step))

        def page(offset: int) -> list[dict[str, Any]]:
            return list(self.request("GET", path, params={**params, "limit": step, "offset": offset})
                        .get("results") or [])

        with ThreadPoolExecutor(max_workers=min(self.spec.workers, max(1, len(offsets)))) as pool:
            for got in pool.map(page, offsets):
                results.extend(got)
        return _unique(results)

    def graphql_list(self, query: str, field: str, variables: Params) -> list[dict[str, Any]]:
        """Every object a GraphQL list field returns, ``limit``/``offset`` page by page until a short page."""
        size = self.spec.page_size
        results: list[dict[str, Any]] = []
        offset = 0
        while True:
            data = self.graphql(query, {**variables, "limit": size, "offset": offset})
            got = data.get(field) or []
            results.extend(got)
            if len(got) < size:
                return _unique(results)
            offset += size

    def graphql(self, query: str, variables: Params) -> dict[str, Any]:
        body = self.request("POST", "graphql/", json={"query": query, "variables": dict(variables)})
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            first = errors[0].get("message", errors[0]) if isinstance(errors[0], dict) else errors[0]
            raise SourceError(f"{self.spec.label} rejected the GraphQL query ({redact_text(str(first))[:300]}): "
                              f"check filters ({self.spec.filters.describe()}) in {self.spec.where}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise SourceError(f"{self.spec.label} answered the GraphQL query without data: is it a Nautobot?")
        return data


def _unique(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats (a device created while the pages were read shifts the offsets)."""
    seen: set[Any] = set()
    kept = []
    for obj in objects:
        key = obj.get("id", id(obj))
        if key not in seen:
            seen.add(key)
            kept.append(obj)
    return kept


def _scheme(token: str) -> str:
    """NetBox 4.5's v2 tokens (``nbt_<id>.<secret>``) go as Bearer; Nautobot's and older NetBox's as Token."""
    return "Bearer" if token.startswith("nbt_") else "Token"


def _ref_text(token: str | list[str]) -> str:
    return token if isinstance(token, str) else " || ".join(token)
