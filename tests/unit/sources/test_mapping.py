"""A source device to a Nornir host: platform, address, port, credential references, and the problems."""

from __future__ import annotations

from typing import Any

import pytest

from nornflow.inventory.sources import SourceDevice, SourcePlatform, map_device, nornir_platform
from nornflow.inventory.sources.mapping import credentials
from nornflow.inventory.sources.nautobot import device as nautobot_device_of
from tests.unit.sources.fakes import nautobot_device, spec

PLAIN = "hunter2-plain-canary"


def _entry(**kwargs: Any):  # type: ignore[no-untyped-def]
    overrides = kwargs.pop("spec", {})
    return map_device(nautobot_device_of(nautobot_device("r1", **kwargs)), spec(**overrides))


@pytest.mark.parametrize(("platform", "expected"), [
    (SourcePlatform(name="IOS XE", network_driver="cisco_ios", scrapli="cisco_iosxe"), "cisco_iosxe"),
    (SourcePlatform(name="Whatever", network_driver="cisco_ios"), "cisco_iosxe"),
    (SourcePlatform(name="EOS", napalm_driver="eos"), "arista_eos"),
    (SourcePlatform(name="Junos", slug="juniper-junos"), "juniper_junos"),
    (SourcePlatform(name="Cisco NX-OS"), "cisco_nxos"),
    (SourcePlatform(name="NXOS", napalm_driver="nxos_ssh"), "cisco_nxos"),
    (SourcePlatform(name="cisco xr"), "cisco_iosxr"),
    (SourcePlatform(name="Mystery OS", slug="mystery"), None),
])
def test_platform_mapping(platform: SourcePlatform, expected: str | None) -> None:
    assert nornir_platform(platform) == expected


def test_platform_map_overrides_everything() -> None:
    platform = SourcePlatform(name="IOS XE", network_driver="cisco_ios", scrapli="cisco_iosxe")
    assert nornir_platform(platform, {"IOS-XE": "cisco_iosxe_custom"}) == "cisco_iosxe_custom"
    assert nornir_platform(SourcePlatform(name="Mystery OS"), {"mystery os": "arista_eos"}) == "arista_eos"


def test_device_becomes_a_host_entry() -> None:
    entry = _entry(tags=("core",))
    assert entry.problem is None
    assert (entry.name, entry.hostname, entry.port, entry.platform) == ("r1", "127.0.0.1", 10022, "cisco_iosxe")
    assert entry.username == "secret:mem/main:lab#username" and entry.password == "secret:mem/main:lab#password"
    assert entry.data["site"] == "fra" and entry.data["role"] == "spine" and entry.data["tags"] == ["core"]
    assert entry.data["source"] == "nautobot" and entry.data["source_id"] == "id-r1"


def test_port_hostname_and_data_from_the_config_context() -> None:
    context = {"nornflow": {"port": 2222, "hostname": "r1.oob.example", "credentials": "secret:mem/main:lab",
                            "data": {"site": "ignored", "asn": 65001}}}
    entry = _entry(port=None, context=context)
    assert (entry.hostname, entry.port) == ("r1.oob.example", 2222)
    assert entry.data["asn"] == 65001 and entry.data["site"] == "fra"  # the source's site wins
    assert _entry(port=10099, context=context).port == 10099  # the custom field wins


def test_credentials_mapping_and_enable() -> None:
    refs = {"username": "netops", "password": "secret:mem/main:r1#password",
            "enable": "secret:mem/main:r1#enable || secret:mem/main:lab#password"}
    found, problems = credentials(refs, "config context nornflow.credentials")
    assert problems == []
    assert found == refs  # a plain username is accepted: it is not a secret
    found, _ = credentials("secret:a/b:x || secret:c/d:y", "f")
    assert found["password"] == "secret:a/b:x#password || secret:c/d:y#password"


def test_custom_field_credentials_win_over_the_config_context() -> None:
    entry = _entry(custom={"nornflow_credentials": "secret:mem/main:other"})
    assert entry.password == "secret:mem/main:other#password"


@pytest.mark.parametrize(("value", "expected"), [
    ({"username": "admin", "password": PLAIN}, "nornflow.credentials.password holds a plain value where a secret"),
    (PLAIN, "nornflow.credentials holds a plain value"),
    ({"password": ["secret:a/b:c", PLAIN]}, "nornflow.credentials.password holds a value of type list where"),
    ("secret:mem/main:lab#password", "names one key (#...) of a secret"),
    ({"password": "secret:Bad_Block/x"}, "malformed secret reference"),
    ({"pasword": "secret:a/b"}, "unknown keys ['pasword']"),
    (42, "holds a value of type int where a secret reference"),
])
def test_plain_or_wrong_credentials_are_refused_naming_device_and_field(value: Any, expected: str) -> None:
    entry = _entry(context={"nornflow": {"credentials": value}})
    assert entry.problem is not None
    assert entry.problem.startswith("Nautobot device 'r1': ")
    assert expected in entry.problem
    assert PLAIN not in entry.problem


def test_missing_address_platform_and_bad_port_are_problems_not_exceptions() -> None:
    entry = _entry(ip=None, driver=None, port=70000)
    assert entry.problem is not None
    for part in ("has no primary IP", "has no platform", "custom field nornflow_port 70000 is not 1-65535"):
        assert part in entry.problem
    unknown = map_device(SourceDevice(id="x", name="r9", platform=SourcePlatform(name="Mystery"),
                                      address="10.0.0.9",
                                      config_context={"nornflow": {"credentials": "secret:a/b"}}), spec())
    assert unknown.problem is not None and "platform 'Mystery' maps to no Nornir platform" in unknown.problem
    assert "platform_map" in unknown.problem


def test_no_credentials_anywhere_is_a_problem() -> None:
    entry = _entry(context={}, spec={"defaults": {}})
    assert entry.problem is not None and "has no credentials" in entry.problem
    assert _entry(context={}).problem is None  # the defaults have a password reference
