"""NetBox through the same client and mapping: its JSON (3.x and 4.x), filters and token scheme.

NetBox cannot run here (it is not on PyPI): these tests pin the mapping of its documented
device representation; the REST client itself is exercised against a real Nautobot.
"""

from __future__ import annotations

from typing import Any

import httpx

from nornflow.inventory.sources import map_device
from nornflow.inventory.sources.client import SourceClient
from nornflow.inventory.sources.netbox import device, fetch
from tests.unit.sources.fakes import spec


def netbox_device(name: str, *, v4: bool = True, **extra: Any) -> dict[str, Any]:
    role = {"id": 3, "name": "Core Spine", "slug": "spine"}
    return {
        "id": 17, "name": name, "display": name,
        "site": {"id": 1, "name": "Frankfurt 1", "slug": "fra1"},
        ("role" if v4 else "device_role"): role,
        "platform": {"id": 2, "name": "Cisco IOS-XE", "slug": "cisco-ios-xe"},
        "status": {"value": "active", "label": "Active"},
        "primary_ip": {"id": 9, "family": 4, "address": "10.1.2.3/32"},
        "primary_ip4": {"id": 9, "family": 4, "address": "10.1.2.3/32"}, "primary_ip6": None,
        "tags": [{"id": 1, "name": "Core", "slug": "core"}],
        "custom_fields": {"nornflow_port": 2022, "nornflow_credentials": None},
        "config_context": {"nornflow": {"credentials": {"username": "netops", "password": "secret:secret/nb-pw"}}},
        **extra,
    }


def test_netbox_4_device_maps_like_a_nautobot_one() -> None:
    entry = map_device(device(netbox_device("fra1-sp1")), spec(source="netbox"))
    assert entry.problem is None
    assert (entry.hostname, entry.port, entry.platform) == ("10.1.2.3", 2022, "cisco_iosxe")
    assert entry.username == "netops" and entry.password == "secret:secret/nb-pw"
    assert entry.data["site"] == "fra1" and entry.data["role"] == "spine" and entry.data["tags"] == ["core"]
    assert entry.data["status"] == "active" and entry.data["source"] == "netbox"


def test_netbox_3_device_role_and_platform_map() -> None:
    found = device(netbox_device("r2", v4=False, platform={"id": 5, "name": "Arista", "slug": "arista"}))
    assert found.role == "spine"
    entry = map_device(found, spec(source="netbox", platform_map={"arista": "arista_eos"}))
    assert entry.platform == "arista_eos" and entry.problem is None
    unmapped = map_device(found, spec(source="netbox"))
    assert unmapped.problem is not None and unmapped.problem.startswith("NetBox device 'r2': platform 'Arista'")


def test_netbox_device_without_primary_ip() -> None:
    entry = map_device(device(netbox_device("r3", primary_ip=None, primary_ip4=None)), spec(source="netbox"))
    assert entry.problem is not None and "has no primary IP: set one in NetBox" in entry.problem


def test_netbox_filters_and_bearer_tokens() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 1, "next": None, "results": [netbox_device("fra1-sp1")]})

    filters = {"sites": ["fra1"], "roles": ["spine"], "platforms": ["cisco-ios-xe"], "tags": ["core"],
               "statuses": ["active"]}
    nb_spec = spec(source="netbox", filters=filters)
    with SourceClient(nb_spec, "nbt_abc.def", transport=httpx.MockTransport(handle)) as client:
        assert [d.name for d in fetch(client, nb_spec)] == ["fra1-sp1"]
    params = seen[0].url.params
    assert (params["site"], params["role"], params["platform"], params["tag"], params["status"]) == (
        "fra1", "spine", "cisco-ios-xe", "core", "active")
    assert "depth" not in params and seen[0].headers["authorization"] == "Bearer nbt_abc.def"
    with SourceClient(nb_spec, "0123abcd", transport=httpx.MockTransport(handle)) as client:
        fetch(client, nb_spec)
    assert seen[-1].headers["authorization"] == "Token 0123abcd"
