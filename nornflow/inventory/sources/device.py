"""One device as every source describes it, whatever its API called the fields.

Each source module (``nautobot``, ``netbox``) only fetches and fills these in; turning them
into Nornir hosts is shared (:mod:`nornflow.inventory.sources.mapping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourcePlatform:
    """A platform as the source names it; :func:`~nornflow.inventory.sources.mapping.nornir_platform` maps it."""

    name: str = ""
    slug: str = ""
    network_driver: str = ""
    napalm_driver: str = ""
    #: The source's own answer for scrapli (Nautobot: ``network_driver_mappings["scrapli"]``).
    scrapli: str = ""

    def describe(self) -> str:
        extra = [f"{k} {v!r}" for k, v in (("network driver", self.network_driver),
                                           ("napalm driver", self.napalm_driver), ("slug", self.slug)) if v]
        return f"{self.name!r}" + (f" ({', '.join(extra)})" if extra else "")


@dataclass(frozen=True)
class SourceDevice:
    """What NornFlow needs of one device; ``custom_fields``/``config_context`` as the API gave them."""

    id: str
    name: str
    platform: SourcePlatform | None = None
    address: str | None = None
    site: str | None = None
    role: str | None = None
    status: str | None = None
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    config_context: Mapping[str, Any] = field(default_factory=dict)


def text(obj: Any, *keys: str) -> str | None:
    """The first non-empty string among ``obj[key]`` (``obj`` a mapping, or a nested object's mapping)."""
    if not isinstance(obj, Mapping):
        return obj if isinstance(obj, str) and obj else None
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def address(*ips: Any) -> str | None:
    """The host part of the first IP given (``{"address": "10.0.0.1/32"}`` or ``{"host": ...}``)."""
    for ip in ips:
        found = text(ip, "host", "address")
        if found:
            return found.split("/", 1)[0]
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
