"""Paginated reads and the errors a person can act on (an in-memory API, no sockets)."""

from __future__ import annotations

import httpx
import pytest

from nornflow.inventory.sources import SourceAccessDenied, SourceError, SourceUnavailable
from nornflow.inventory.sources.client import SourceClient
from nornflow.inventory.sources.nautobot import fetch
from tests.unit.sources.fakes import TOKEN, TOKEN_REF, FakeApi, nautobot_device, spec

FLEET = [nautobot_device(f"r{i:04d}", site="fra" if i % 2 else "ams", tags=("core",) if i % 3 == 0 else ())
         for i in range(2345)]


def _client(fake: FakeApi, **overrides: object) -> SourceClient:
    return SourceClient(spec(**overrides), TOKEN, transport=fake.transport)


def test_rest_pages_in_parallel_from_the_count() -> None:
    api = FakeApi(FLEET)
    with _client(api, api="rest", page_size=500, workers=4) as client:
        devices = fetch(client, client.spec)
    assert [d.name for d in devices] == [d["name"] for d in FLEET]
    assert len(api.requests) == 5  # 2,345 devices, 500 a page
    first = api.requests[0]
    assert first.headers["authorization"] == f"Token {TOKEN}"
    assert first.url.params["depth"] == "1" and first.url.params["include"] == "config_context"


def test_rest_follows_a_server_that_caps_the_page_size() -> None:
    api = FakeApi(FLEET, max_page=100)
    with _client(api, api="rest", page_size=1000) as client:
        devices = fetch(client, client.spec)
    assert len(devices) == len(FLEET) and len({d.id for d in devices}) == len(FLEET)
    assert len(api.requests) == 24


def test_rest_without_a_count_follows_next_links() -> None:
    api = FakeApi(FLEET[:250], count=False)
    with _client(api, api="rest", page_size=100) as client:
        assert len(fetch(client, client.spec)) == 250
    assert len(api.requests) == 3


def test_filters_are_pushed_into_the_query() -> None:
    api = FakeApi(FLEET)
    with _client(api, api="rest", filters={"locations": ["fra"], "tags": ["core"]}) as client:
        devices = fetch(client, client.spec)
    assert {d.site for d in devices} == {"fra"} and all("core" in d.tags for d in devices)
    assert len(devices) == len([i for i in range(2345) if i % 2 and i % 3 == 0])
    params = api.requests[0].url.params
    assert params.get_list("location") == ["fra"] and params.get_list("tags") == ["core"]


def test_graphql_pages_until_a_short_page() -> None:
    api = FakeApi(FLEET)
    with _client(api, page_size=1000, filters={"roles": ["spine"], "names": ["r0001", "r0002"]}) as client:
        devices = fetch(client, client.spec)
    assert [d.name for d in devices] == ["r0001", "r0002"]
    with _client(api, page_size=1000) as client:
        devices = fetch(client, client.spec)
    assert len(devices) == len(FLEET) and devices[0].custom_fields["nornflow_port"] == 10022
    assert devices[0].address == "127.0.0.1"
    graphql = [r for r in api.requests if r.url.path == "/api/graphql/"]
    assert len(graphql) == 1 + 3  # the filtered query, then 1000 + 1000 + 345


@pytest.mark.parametrize(("status", "error", "message"), [
    (401, SourceAccessDenied, "refused the API token (HTTP 401: Invalid token): check the token that "
                              f"{TOKEN_REF} holds"),
    (403, SourceAccessDenied, "refused the API token (HTTP 403"),
    (400, SourceError, "rejected the query (HTTP 400"),
    (404, SourceError, "has no API at http://nautobot.test/api/dcim/devices/ (HTTP 404)"),
    (502, SourceUnavailable, "failed to answer dcim/devices/ (HTTP 502"),
    (302, SourceError, "redirects dcim/devices/"),
])
def test_http_errors_say_what_to_check(status: int, error: type[Exception], message: str) -> None:
    api = FakeApi(FLEET)
    api.status = status
    with _client(api, api="rest") as client, pytest.raises(error) as caught:
        fetch(client, client.spec)
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_token_echoed_in_an_error_body_is_masked() -> None:
    from nornflow.secrets import redaction

    redaction.clear()
    redaction.register(TOKEN)  # as the resolver does when it reads the token
    try:
        api = FakeApi(FLEET)
        api.status, api.body = 400, {"detail": f"bad token {TOKEN}"}
        with _client(api, api="rest") as client, pytest.raises(SourceError) as caught:
            fetch(client, client.spec)
        assert TOKEN not in str(caught.value) and "bad token ***" in str(caught.value)
    finally:
        redaction.clear()


def test_graphql_errors_are_named() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errors": [{"message": "{'location': ['nowhere is not valid']}"}]})

    with SourceClient(spec(filters={"locations": ["nowhere"]}), TOKEN, transport=httpx.MockTransport(handle)) as c, \
            pytest.raises(SourceError, match=r"rejected the GraphQL query .*nowhere is not valid.*locations=nowhere"):
        fetch(c, c.spec)


def test_not_json_and_server_down() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})

    with SourceClient(spec(api="rest"), TOKEN, transport=httpx.MockTransport(html)) as c, \
            pytest.raises(SourceError, match=r"with text/html, not JSON: is http://nautobot\.test a nautobot server"):
        fetch(c, c.spec)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with SourceClient(spec(origin="prod.yaml"), TOKEN, transport=httpx.MockTransport(down)) as c, \
            pytest.raises(SourceUnavailable) as caught:
        fetch(c, c.spec)
    assert "Nautobot at http://nautobot.test is not reachable (ConnectError" in str(caught.value)
    assert "the url in prod.yaml" in str(caught.value)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with SourceClient(spec(timeout=5), TOKEN, transport=httpx.MockTransport(slow)) as c, \
            pytest.raises(SourceUnavailable, match="did not answer graphql/ within 5 s"):
        fetch(c, c.spec)
