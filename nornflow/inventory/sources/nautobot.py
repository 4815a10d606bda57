"""Nautobot 2.x: devices through GraphQL (the default: only the fields needed) or REST (``api: rest``).

GraphQL reads 1,000 devices with their config contexts in about a quarter of the time REST
takes with ``depth=1`` (3.4 s against 13 s on the test server), because REST serializes every
nested object whole. Both push the filters into the query; a name Nautobot does not know is
rejected by Nautobot with HTTP 400 (or a GraphQL error), which names it.
"""

from __future__ import annotations

from typing import Any

from nornflow.inventory.sources.client import SourceClient
from nornflow.inventory.sources.device import SourceDevice, SourcePlatform, address, mapping, text
from nornflow.inventory.sources.spec import SourceSpec

#: SourceFilters field -> Nautobot's device filter (REST query parameter and GraphQL argument).
FILTERS = {"locations": "location", "roles": "role", "platforms": "platform", "tags": "tags",
           "statuses": "status", "names": "name"}

DEVICES_QUERY = """
query ($location: [String], $role: [String], $platform: [String], $tags: [String], $status: [String],
       $name: [String], $limit: Int, $offset: Int) {
  devices(location: $location, role: $role, platform: $platform, tags: $tags, status: $status, name: $name,
          limit: $limit, offset: $offset) {
    id name
    platform { name network_driver napalm_driver network_driver_mappings }
    role { name } location { name } status { name } tags { name }
    primary_ip4 { host } primary_ip6 { host }
    config_context
    _custom_field_data
  }
}
"""


def _filters(spec: SourceSpec) -> dict[str, list[str]]:
    return {FILTERS[k]: v for k, v in spec.filters.model_dump().items() if v}


def platform(obj: Any) -> SourcePlatform | None:
    if not isinstance(obj, dict):
        return None
    return SourcePlatform(
        name=text(obj, "name") or "", network_driver=text(obj, "network_driver") or "",
        napalm_driver=text(obj, "napalm_driver") or "",
        scrapli=text(mapping(obj.get("network_driver_mappings")), "scrapli") or "",
    )


def device(obj: dict[str, Any]) -> SourceDevice:
    """A device from either API's JSON (REST ``depth=1``, or the GraphQL query above)."""
    return SourceDevice(
        id=str(obj.get("id", "")), name=text(obj, "name") or f"unnamed-{obj.get('id')}",
        platform=platform(obj.get("platform")),
        address=address(obj.get("primary_ip4"), obj.get("primary_ip6")),
        site=text(obj.get("location"), "name"), role=text(obj.get("role"), "name"),
        status=text(obj.get("status"), "name"),
        tags=tuple(t for t in (text(tag, "name") for tag in obj.get("tags") or []) if t),
        custom_fields=mapping(obj.get("custom_fields", obj.get("_custom_field_data"))),
        config_context=mapping(obj.get("config_context")),
    )


def fetch(client: SourceClient, spec: SourceSpec) -> list[SourceDevice]:
    if (spec.api or "graphql") == "graphql":
        found = client.graphql_list(DEVICES_QUERY, "devices", _filters(spec))
    else:
        found = client.rest_list("dcim/devices/", {**_filters(spec), "depth": 1, "include": "config_context"})
    return [device(obj) for obj in found]
