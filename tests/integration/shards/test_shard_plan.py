"""How hosts become shards (no I/O), and the error a parent outside a deployment gets."""

from __future__ import annotations

import pytest
import yaml

from nornflow.engine.shards import Shard, ShardError, _render, plan_shards
from nornflow.inventory.load import load_nornir

SITES = {"fra-1": "fra", "fra-2": "fra", "fra-3": "fra", "ams-1": "ams", "ams-2": "ams", "nyc-1": None}


@pytest.fixture
def inventory(tmp_path):
    hosts = {name: {"hostname": "127.0.0.1", "platform": "cisco_iosxe" if name < "c" else "arista_eos",
                    "data": {"site": site, "role": "spine"} if site else {"role": "leaf"}}
             for name, site in SITES.items()}
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    return tmp_path


def keys(shards: list[Shard]) -> dict[str, list[str]]:
    return {s.key: s.hosts for s in shards}


def test_one_shard_per_site_and_hosts_without_one_together(inventory):
    nr = load_nornir(inventory)
    shards = plan_shards(nr, list(SITES), by="site")
    assert keys(shards) == {"site=fra": ["fra-1", "fra-2", "fra-3"], "site=ams": ["ams-1", "ams-2"],
                            "site=none": ["nyc-1"]}
    assert [s.value for s in shards] == ["fra", "ams", "none"]
    assert keys(plan_shards(nr, list(SITES), by="platform")) == {
        "platform=arista_eos": ["fra-1", "fra-2", "fra-3", "nyc-1"], "platform=cisco_iosxe": ["ams-1", "ams-2"]}


def test_by_count_and_by_site_split_in_parts(inventory):
    nr = load_nornir(inventory)
    assert keys(plan_shards(nr, list(SITES), count=4)) == {
        "1/4": ["fra-1", "fra-2"], "2/4": ["fra-3", "ams-1"], "3/4": ["ams-2"], "4/4": ["nyc-1"]}
    assert len(plan_shards(nr, list(SITES), count=50)) == 6  # never an empty shard
    both = keys(plan_shards(nr, ["fra-1", "fra-2", "fra-3", "ams-1"], by="site", count=2))
    assert both == {"site=fra 1/2": ["fra-1", "fra-2"], "site=fra 2/2": ["fra-3"], "site=ams": ["ams-1"]}


def test_bad_requests_say_what_to_pass(inventory):
    nr = load_nornir(inventory)
    with pytest.raises(ShardError, match=r"shard_by .* or shards"):
        plan_shards(nr, list(SITES))
    with pytest.raises(ShardError, match="shards=0 must be at least 1"):
        plan_shards(nr, list(SITES), count=0)
    with pytest.raises(ShardError, match="no selected host has a value for shard_by='rack'"):
        plan_shards(nr, list(SITES), by="rack")
    shard = Shard(key="site=fra", value="fra", hosts=["fra-1"])
    assert _render("site-{value}", shard, "shard_queue") == "site-fra"
    with pytest.raises(ShardError, match=r"shard_queue '\{site\}' has an unknown field 'site'"):
        _render("{site}", shard, "shard_queue")


def test_parent_outside_a_deployment_names_the_parameter(inventory, prefect_server):
    from nornflow.flows import backup_configs

    state = backup_configs(inventory=str(inventory), backup_dir=str(inventory / "b"), shard_by="site",
                           return_state=True)
    assert state.is_failed()
    with pytest.raises(ShardError, match=r"not running from a deployment.*shard_deployment='backup_configs/"):
        state.result()
