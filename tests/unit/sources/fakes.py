"""A Nautobot/NetBox-shaped API in memory (httpx.MockTransport): pages, filters, GraphQL, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx

from nornflow.inventory.sources import SourceSpec
from nornflow.secrets import Resolver
from tests.unit.secrets.fakes import MemoryBackend

TOKEN = "nb-token-canary-31337"
TOKEN_REF = "secret:mem/main:nautobot#token"


def resolver(**more: Any) -> Resolver:
    return Resolver(backends={"mem": MemoryBackend({"nautobot": {"token": TOKEN}, **more})})


def spec(**overrides: Any) -> SourceSpec:
    base: dict[str, Any] = {"source": "nautobot", "url": "http://nautobot.test", "token": TOKEN_REF,
                            "defaults": {"password": "secret:mem/main:lab#password"}}
    return SourceSpec.model_validate({**base, **overrides})


def nautobot_device(name: str, *, site: str = "fra", role: str = "spine", driver: str | None = "cisco_ios",
                    ip: str | None = "127.0.0.1/32", port: int | None = 10022, tags: tuple[str, ...] = (),
                    context: dict[str, Any] | None = None, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """A device as Nautobot's REST API returns it with ``depth=1&include=config_context`` (the parts used)."""
    platform = None if driver is None else {
        "name": driver.upper(), "network_driver": driver, "napalm_driver": "",
        "network_driver_mappings": {"scrapli": {"cisco_ios": "cisco_iosxe"}.get(driver, driver)},
    }
    return {
        "id": f"id-{name}", "name": name, "platform": platform, "location": {"name": site},
        "role": {"name": role}, "status": {"name": "Active"}, "tags": [{"name": t} for t in tags],
        "primary_ip4": {"address": ip, "host": ip.split("/")[0]} if ip else None, "primary_ip6": None,
        "custom_fields": {"nornflow_port": port, **(custom or {})},
        "config_context": {"nornflow": {"credentials": "secret:mem/main:lab"}} if context is None else context,
    }


class FakeApi:
    """Serves ``devices`` from /api/dcim/devices/ (limit/offset, filters) and /api/graphql/."""

    FILTERS = {"location": "location", "site": "location", "role": "role", "tags": "tags", "tag": "tags",
               "name": "name"}

    def __init__(self, devices: list[dict[str, Any]], *, max_page: int = 1000, count: bool = True) -> None:
        self.devices = devices
        self.max_page = max_page
        self.count = count
        self.requests: list[httpx.Request] = []
        self.status: int | None = None  # answer every request with this status
        self.body: Any = {"detail": "Invalid token"}

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _match(self, device: dict[str, Any], filters: dict[str, list[str]]) -> bool:
        values = {"location": [device["location"]["name"]], "role": [device["role"]["name"]],
                  "tags": [t["name"] for t in device["tags"]], "name": [device["name"]]}
        return all(set(values[self.FILTERS[k]]) & set(v) for k, v in filters.items() if k in self.FILTERS)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status is not None:
            return httpx.Response(self.status, json=self.body)
        if request.url.path == "/api/graphql/":
            body = json.loads(request.content)
            variables = dict(body["variables"])
            limit, offset = variables.pop("limit"), variables.pop("offset")
            found = [d for d in self.devices if self._match(d, variables)][offset:offset + limit]
            return httpx.Response(200, json={"data": {"devices": [self._graphql(d) for d in found]}})
        if request.url.path != "/api/dcim/devices/":
            return httpx.Response(404, json={"detail": "Not found."})
        params = request.url.params
        filters = {k: params.get_list(k) for k in params if k in self.FILTERS}
        limit = min(int(params.get("limit", 50)), self.max_page)
        offset = int(params.get("offset", 0))
        found = [d for d in self.devices if self._match(d, filters)]
        page = found[offset:offset + limit]
        following = None
        if offset + limit < len(found):
            following = str(request.url.copy_merge_params({"offset": offset + limit, "limit": limit}))
        body: dict[str, Any] = {"next": following, "results": page}
        if self.count:
            body["count"] = len(found)
        return httpx.Response(200, json=body)

    @staticmethod
    def _graphql(device: dict[str, Any]) -> dict[str, Any]:
        shaped = {k: v for k, v in device.items() if k != "custom_fields"}
        shaped["_custom_field_data"] = device["custom_fields"]
        ip = device["primary_ip4"]
        shaped["primary_ip4"] = {"host": ip["host"]} if ip else None
        return shaped
