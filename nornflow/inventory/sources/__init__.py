"""Hosts from a source of truth (Nautobot, NetBox) instead of a SimpleInventory directory.

A flow's ``inventory`` names a source file (``nautobot.yaml`` with ``source: nautobot``) or a
source URL (``nautobot+https://...``); :func:`nornflow.inventory.load_nornir` sees that and
builds the hosts here. Modules, in the order a load runs through them:

- ``spec``: the file/URL form, validated (the API token is a secret reference);
- ``client``: HTTP, pagination, errors that name the server and what to check;
- ``nautobot`` / ``netbox``: fetch the devices, each into a :class:`SourceDevice`;
- ``mapping``: a device to a host: address, port, platform, credential references;
- ``loader``: the Nornir inventory plugin (``NornFlowSource``) and :func:`load_source`.

Another source is a module with a ``fetch(client, spec) -> list[SourceDevice]`` function,
registered in the ``nornflow.inventory_sources`` entry-point group.
"""

from __future__ import annotations

from nornflow.inventory.sources.device import SourceDevice, SourcePlatform
from nornflow.inventory.sources.exceptions import SourceAccessDenied, SourceError, SourceUnavailable, UnusableDevice
from nornflow.inventory.sources.loader import (
    PLUGIN_NAME,
    PROBLEM_KEY,
    SourceInventory,
    UnusableHost,
    build_inventory,
    inventory_problems,
    load_source,
)
from nornflow.inventory.sources.mapping import PLATFORMS, map_device, nornir_platform
from nornflow.inventory.sources.spec import SourceFilters, SourceSpec, source_spec

__all__ = [
    "PLATFORMS",
    "PLUGIN_NAME",
    "PROBLEM_KEY",
    "SourceAccessDenied",
    "SourceDevice",
    "SourceError",
    "SourceFilters",
    "SourceInventory",
    "SourcePlatform",
    "SourceSpec",
    "SourceUnavailable",
    "UnusableDevice",
    "UnusableHost",
    "build_inventory",
    "inventory_problems",
    "load_source",
    "map_device",
    "nornir_platform",
    "source_spec",
]
