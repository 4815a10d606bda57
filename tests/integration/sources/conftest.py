"""A real Nautobot (once per session) describing a real lab, and source files that point at it.

Keep every test that uses it in test_nautobot.py: ``make test`` runs ``--dist loadfile``, so one
file means one xdist worker starts one Nautobot (about 15-25 s).

What Nautobot holds (populated through its REST API, as an operator's scripts would):

- location type ``Site`` and locations ``fra`` and ``ams``; roles ``spine``/``leaf``; tag ``core``
  on the spines; platforms ``IOS XE`` (network driver ``cisco_ios``) and ``EOS`` (``arista_eos``);
- the lab's six devices, all with primary IP 127.0.0.1/32 (one IP on every device's mgmt0) and
  their SSH port in the ``nornflow_port`` custom field;
- a config context for both sites with ``nornflow.credentials: secret:secret/nautobot-lab`` (a
  Prefect Secret holding username and password), overridden for ``ams-spine-02`` by the
  ``nornflow_credentials`` custom field pointing at another secret (its password was rotated
  on the device), and for ``fra-leaf-03`` by a local context holding a plain password;
- two devices that cannot run: ``fra-noip-09`` (no primary IP), ``ams-noplat-09`` (no platform).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.blocks.system import Secret

from tests.servers.nautobot.server import NautobotServer

LAB_PASSWORD = "Nb-lab-canary-4417"
ROTATED_PASSWORD = "Nb-rotated-canary-9921"
PLAIN_PASSWORD = "Nb-plain-canary-5150"
ROTATED_HOST = "ams-spine-02"
PLAIN_HOST = "fra-leaf-03"
BROKEN = {"fra-noip-09": "has no primary IP", "ams-noplat-09": "has no platform"}
DRIVERS = {"cisco_ios": ("Cisco", "IOS XE", "cisco_ios"), "arista_eos": ("Arista", "EOS", "arista_eos")}


@dataclass
class NautobotLab:
    nautobot: NautobotServer
    lab: Any
    directory: Path
    setup_seconds: float
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> site/role/tags

    def source_file(self, name: str = "nautobot.yaml", **overrides: Any) -> Path:
        """A source file for this Nautobot; ``overrides`` replace top-level keys (filters=..., url=...)."""
        spec = {
            "source": "nautobot", "url": self.nautobot.url, "token": "secret:secret/nautobot-token",
            "defaults": {"connection_options": {"scrapli": {"extras": {
                "transport": "paramiko", "auth_strict_key": False,
                "auth_secondary": "secret:secret/nautobot-lab#password",
                "timeout_socket": 10, "timeout_transport": 30, "timeout_ops": 30,
            }}}},
            **overrides,
        }
        path = self.directory / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return path

    def hosts(self, **match: Any) -> set[str]:
        """Names of the expected hosts whose site/role/tag match (``tag=`` tests membership)."""
        tag = match.pop("tag", None)
        return {n for n, e in self.expected.items()
                if all(e[k] == v for k, v in match.items()) and (tag is None or tag in e["tags"])}


@pytest.fixture(scope="session")
def nautobot() -> Iterator[NautobotServer]:
    server = NautobotServer().start()
    print(f"\nNautobot fixture: {', '.join(f'{k} {v:.1f} s' for k, v in server.timings.items())}")
    try:
        yield server
    finally:
        server.stop()


def _populate(nb: NautobotServer, lab: Any) -> dict[str, dict[str, Any]]:
    def create(path: str, body: Any) -> Any:
        return nb.api("POST", path, body)

    active = nb.api("GET", "extras/statuses/", name="Active")["results"][0]["id"]
    site_type = create("dcim/location-types/", {"name": "Site", "content_types": ["dcim.device"]})["id"]
    sites = {s: create("dcim/locations/", {"name": s, "location_type": site_type, "status": active})["id"]
             for s in ("fra", "ams")}
    roles = {r: create("extras/roles/", {"name": r, "content_types": ["dcim.device"]})["id"] for r in ("spine", "leaf")}
    core = create("extras/tags/", {"name": "core", "content_types": ["dcim.device"]})["id"]
    create("extras/custom-fields/", {"label": "NornFlow port", "key": "nornflow_port", "type": "integer",
                                     "content_types": ["dcim.device"]})
    create("extras/custom-fields/", {"label": "NornFlow credentials", "key": "nornflow_credentials",
                                     "type": "text", "content_types": ["dcim.device"]})
    platforms, types = {}, {}
    for lab_platform, (vendor, name, driver) in DRIVERS.items():
        maker = create("dcim/manufacturers/", {"name": vendor})["id"]
        types[lab_platform] = create("dcim/device-types/", {"model": f"{name} lab", "manufacturer": maker})["id"]
        platforms[lab_platform] = create("dcim/platforms/", {"name": name, "network_driver": driver,
                                                             "manufacturer": maker})["id"]
    namespace = create("ipam/prefixes/", {"prefix": "127.0.0.0/8", "status": active})["namespace"]["id"]
    loopback = create("ipam/ip-addresses/", {"address": "127.0.0.1/32", "status": active,
                                             "namespace": namespace})["id"]
    create("extras/config-contexts/", {"name": "nornflow-lab", "locations": list(sites.values()),
                                       "data": {"nornflow": {"credentials": "secret:secret/nautobot-lab"}}})
    expected: dict[str, dict[str, Any]] = {}
    devices = [(d.name, d.site, d.role, d.platform, d.port) for d in lab.devices.values()]
    devices += [("fra-noip-09", "fra", "leaf", "cisco_ios", None), ("ams-noplat-09", "ams", "leaf", None, 22)]
    bodies = []
    for name, site, role, platform, port in devices:
        body: dict[str, Any] = {
            "name": name, "location": sites[site], "role": roles[role], "status": active,
            "device_type": types[platform or "cisco_ios"], "platform": platforms[platform] if platform else None,
            "tags": [core] if role == "spine" else [], "custom_fields": {"nornflow_port": port},
        }
        if name == ROTATED_HOST:
            body["custom_fields"]["nornflow_credentials"] = "secret:secret/nautobot-lab-rotated"
        if name == PLAIN_HOST:
            body["local_config_context_data"] = {
                "nornflow": {"credentials": {"username": "admin", "password": PLAIN_PASSWORD}}}
        bodies.append(body)
        expected[name] = {"site": site, "role": role, "tags": ["core"] if role == "spine" else []}
    # Bulk requests (a list per endpoint): four round trips instead of four per device.
    created = [d for d in create("dcim/devices/", bodies) if d["name"] != "fra-noip-09"]
    mgmt = create("dcim/interfaces/", [{"device": d["id"], "name": "mgmt0", "type": "virtual", "status": active}
                                       for d in created])
    create("ipam/ip-address-to-interface/", [{"ip_address": loopback, "interface": i["id"]} for i in mgmt])
    nb.api("PATCH", "dcim/devices/", [{"id": d["id"], "primary_ip4": loopback} for d in created])
    return expected


@pytest.fixture(scope="session")
def nautobot_lab(nautobot: NautobotServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NautobotLab]:
    from nornflow.lab import Lab

    started = time.monotonic()
    directory = tmp_path_factory.mktemp("nautobot-lab")
    Secret(value=nautobot.token).save("nautobot-token", overwrite=True)
    Secret(value={"username": "admin", "password": LAB_PASSWORD}).save("nautobot-lab", overwrite=True)
    Secret(value={"username": "admin", "password": ROTATED_PASSWORD}).save("nautobot-lab-rotated", overwrite=True)
    with Lab(size=6, sites=("fra", "ams"), directory=directory / "lab", password=LAB_PASSWORD) as lab:
        lab.set_password(ROTATED_HOST, ROTATED_PASSWORD)
        expected = _populate(nautobot, lab)
        elapsed = time.monotonic() - started
        print(f"\nNautobot lab: 6 lab devices + {len(BROKEN)} broken ones populated in {elapsed:.1f} s")
        yield NautobotLab(nautobot, lab, directory, elapsed, expected)
