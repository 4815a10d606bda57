"""From devices to a Nornir object: hosts that cannot run fail alone, filters, the plugin, load_nornir."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml
from nornir.core.inventory import Host

from nornflow.inventory.load import HostFilter, inventory_problems, load_nornir
from nornflow.inventory.sources import PLUGIN_NAME, SourceError, UnusableDevice, UnusableHost, load_source
from nornflow.inventory.sources.loader import build_inventory, fetcher
from nornflow.inventory.sources.nautobot import device
from tests.unit.sources.fakes import TOKEN, FakeApi, nautobot_device, resolver, spec

DEVICES = [
    nautobot_device("fra-sp1", tags=("core",)),
    nautobot_device("ams-sp1", site="ams", driver="arista_eos", tags=("core",)),
    nautobot_device("fra-lf1", role="leaf", ip=None),
    nautobot_device("ams-lf1", site="ams", role="leaf",
                    context={"nornflow": {"credentials": {"username": "u", "password": "plain-canary-77"}}}),
]


def test_load_source_builds_hosts_and_unusable_hosts() -> None:
    api = FakeApi(DEVICES)
    nr = load_source(spec(), resolver=resolver(), transport=api.transport)
    assert api.requests[0].headers["authorization"] == f"Token {TOKEN}"
    assert set(nr.inventory.hosts) == {"fra-sp1", "ams-sp1", "fra-lf1", "ams-lf1"}
    problems = inventory_problems(nr)
    assert set(problems) == {"fra-lf1", "ams-lf1"}
    assert "has no primary IP" in problems["fra-lf1"]
    assert "plain-canary-77" not in problems["ams-lf1"]
    assert nr.config.inventory.plugin == PLUGIN_NAME
    assert nr.config.inventory.options["spec"]["url"] == "http://nautobot.test"
    host = nr.inventory.hosts["ams-sp1"]
    assert type(host) is Host and host.platform == "arista_eos" and host.port == 10022
    # The run-time HostFilter sees site, role and tags of every host, runnable or not.
    assert set(HostFilter.coerce({"tags": "core"}).select(nr)) == {"fra-sp1", "ams-sp1"}
    assert set(HostFilter.coerce({"roles": "leaf"}).select(nr)) == {"fra-lf1", "ams-lf1"}


def test_an_unusable_host_fails_when_a_session_starts() -> None:
    inventory = build_inventory([device(d) for d in DEVICES], spec())
    host = inventory.hosts["fra-lf1"]
    assert isinstance(host, UnusableHost) and host.get("site") == "fra"
    for start in (lambda: host.get_connection_parameters("scrapli"),
                  lambda: host.get_connection("scrapli", None),
                  lambda: host.open_connection("scrapli", None)):
        with pytest.raises(UnusableDevice, match="Nautobot device 'fra-lf1': has no primary IP"):
            start()
    copy = pickle.loads(pickle.dumps(inventory))  # sharding pickles a Nornir object
    assert isinstance(copy.hosts["fra-lf1"], UnusableHost) and copy.hosts["fra-lf1"].problem == host.problem


def test_enable_reference_is_merged_into_the_default_scrapli_extras() -> None:
    creds = {"username": "u", "password": "secret:a/b:c", "enable": "secret:a/b:enable"}
    source = spec(defaults={"password": "secret:a/b:d", "connection_options": {
        "scrapli": {"extras": {"auth_strict_key": False, "auth_secondary": "secret:a/b:d"}}}})
    inventory = build_inventory([device(nautobot_device("r1", context={"nornflow": {"credentials": creds}}))],
                                source)
    params = inventory.hosts["r1"].get_connection_parameters("scrapli")
    assert params.extras == {"auth_strict_key": False, "auth_secondary": "secret:a/b:enable"}
    assert params.password == "secret:a/b:c"


def test_duplicate_names_keep_the_first_and_name_the_second() -> None:
    twins = [nautobot_device("r1"), {**nautobot_device("r1", site="ams"), "id": "abcdef0123456789"}]
    inventory = build_inventory([device(d) for d in twins], spec())
    assert set(inventory.hosts) == {"r1", "r1~abcdef01"}
    assert "another device has this name" in inventory.hosts["r1~abcdef01"].problem  # type: ignore[attr-defined]


def test_token_that_does_not_resolve_is_named() -> None:
    with pytest.raises(SourceError, match=r"the API token for Nautobot at http://nautobot.test .* cannot be read"):
        load_source(spec(token="secret:mem/main:missing#token"), resolver=resolver(), transport=FakeApi([]).transport)


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(SourceError, match=r"unknown inventory source 'infrahub': use .*nautobot, netbox"):
        fetcher("infrahub")


def test_load_nornir_reads_a_source_file(tmp_path: Path) -> None:
    """load_nornir (what every flow calls) hands a source file to the source loader."""
    path = tmp_path / "nautobot.yaml"
    path.write_text(yaml.safe_dump({"source": "nautobot", "url": "http://127.0.0.1:9",
                                    "token": "secret:nornflow-missing/nowhere"}), encoding="utf-8")
    with pytest.raises(SourceError, match=f"the API token for Nautobot at http://127.0.0.1:9 \\(in {path}\\)"):
        load_nornir(path)
