"""NetBox 3.x/4.x: devices through REST; the same client, filters and mapping as Nautobot's REST path.

What differs from Nautobot: filters take slugs and are named ``site`` and ``tag``; the role
is ``device_role`` before NetBox 4.0 and ``role`` after; sites, roles and tags are reported by
slug (the names the filters take); platforms carry no network driver, so the slug (or name)
maps through ``platform_map`` and the built-in table; ``config_context`` is in the list by
default. Tested by unit tests of this mapping only: NetBox is not on PyPI.
"""

from __future__ import annotations

from typing import Any

from nornflow.inventory.sources.client import SourceClient
from nornflow.inventory.sources.device import SourceDevice, SourcePlatform, address, mapping, text
from nornflow.inventory.sources.spec import SourceSpec

FILTERS = {"locations": "site", "roles": "role", "platforms": "platform", "tags": "tag",
           "statuses": "status", "names": "name"}


def device(obj: dict[str, Any]) -> SourceDevice:
    raw_platform = obj.get("platform")
    platform = SourcePlatform(name=text(raw_platform, "name") or "", slug=text(raw_platform, "slug") or "",
                              napalm_driver=text(raw_platform, "napalm_driver") or "") \
        if isinstance(raw_platform, dict) else None
    return SourceDevice(
        id=str(obj.get("id", "")), name=text(obj, "name") or f"unnamed-{obj.get('id')}",
        platform=platform, address=address(obj.get("primary_ip"), obj.get("primary_ip4"), obj.get("primary_ip6")),
        site=text(obj.get("site"), "slug", "name"),
        role=text(obj.get("role") or obj.get("device_role"), "slug", "name"),
        status=text(obj.get("status"), "value", "label"),
        tags=tuple(t for t in (text(tag, "slug", "name") for tag in obj.get("tags") or []) if t),
        custom_fields=mapping(obj.get("custom_fields")), config_context=mapping(obj.get("config_context")),
    )


def fetch(client: SourceClient, spec: SourceSpec) -> list[SourceDevice]:
    params = {FILTERS[k]: v for k, v in spec.filters.model_dump().items() if v}
    return [device(obj) for obj in client.rest_list("dcim/devices/", params)]
