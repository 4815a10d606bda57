import textwrap

import pytest

from nornflow.exceptions import HostSelectionError, InventoryError
from nornflow.inventory import HostFilter, load_nornir

HOSTS = """\
r1:
  hostname: 127.0.0.1
  port: 2201
  groups: [ios]
  data: {site: fra, role: spine}
r2:
  hostname: 127.0.0.1
  port: 2202
  groups: [eos]
  data: {site: ams, role: leaf}
r3:
  hostname: 127.0.0.1
  port: 2203
  groups: [ios]
  data: {site: ams, role: leaf}
"""
GROUPS = """\
ios: {platform: cisco_iosxe}
eos: {platform: arista_eos}
"""


@pytest.fixture
def inventory(tmp_path):
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    (tmp_path / "groups.yaml").write_text(GROUPS)
    return tmp_path


def test_loads_directory_and_hosts_file(inventory):
    assert sorted(load_nornir(inventory).inventory.hosts) == ["r1", "r2", "r3"]
    nr = load_nornir(inventory / "hosts.yaml")
    assert nr.inventory.hosts["r2"].platform == "arista_eos"


def test_missing_inventory_names_the_file(tmp_path):
    with pytest.raises(InventoryError, match=r"nothere does not exist: pass a directory holding hosts.yaml"):
        load_nornir(tmp_path / "nothere")


def test_malformed_yaml_names_file_and_line(tmp_path):
    (tmp_path / "hosts.yaml").write_text("r1:\n  hostname: 1.2.3.4\n  port: [2201\nr2: {}\n")
    with pytest.raises(InventoryError, match=r"hosts.yaml:\d+:\d+: malformed YAML") as info:
        load_nornir(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_wrong_shape_names_the_host_and_line(tmp_path):
    (tmp_path / "hosts.yaml").write_text(textwrap.dedent("""\
        r1:
          hostname: 10.0.0.1
        r2: just-a-string
        """))
    with pytest.raises(InventoryError, match=r"hosts.yaml:3: host 'r2' must be a mapping"):
        load_nornir(tmp_path)


def test_unknown_key_and_bad_port_and_undefined_group(tmp_path):
    (tmp_path / "hosts.yaml").write_text("r1:\n  hostname: x\n  site: fra\n")
    with pytest.raises(InventoryError, match=r"hosts.yaml:1: host 'r1' has unknown keys \['site'\]; put custom"):
        load_nornir(tmp_path)
    (tmp_path / "hosts.yaml").write_text("r1:\n  hostname: x\n\nr2:\n  port: 99999\n")
    with pytest.raises(InventoryError, match=r"hosts.yaml:4: 'r2' port 99999"):
        load_nornir(tmp_path)
    (tmp_path / "hosts.yaml").write_text("r1:\n  groups: [core]\n")
    with pytest.raises(InventoryError, match=r"undefined groups \['core'\]"):
        load_nornir(tmp_path)


def test_empty_hosts_file(tmp_path):
    (tmp_path / "hosts.yaml").write_text("# nothing\n")
    with pytest.raises(InventoryError, match="no hosts"):
        load_nornir(tmp_path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ["r1", "r2", "r3"]),
        ({"sites": ["ams"]}, ["r2", "r3"]),
        ({"sites": "ams", "roles": "leaf", "groups": "ios"}, ["r3"]),
        ({"platforms": ["arista_eos"]}, ["r2"]),
        ({"names": ["r1", "r3"]}, ["r1", "r3"]),
        ({"sites": ["fra", "ams"], "roles": ["spine"]}, ["r1"]),
    ],
)
def test_filters(inventory, spec, expected):
    nr = load_nornir(inventory)
    assert HostFilter.coerce(spec).select(nr) == expected
    assert sorted(HostFilter.coerce(spec).apply(nr).inventory.hosts) == expected


def test_filter_that_matches_nothing_is_an_error_listing_what_exists(inventory):
    with pytest.raises(HostSelectionError, match=r"sites=nyc\) matches no host among 3; sites: \['ams', 'fra'\]"):
        HostFilter.coerce({"sites": ["nyc"]}).select(load_nornir(inventory))


def test_filter_with_unknown_host_or_field(inventory):
    with pytest.raises(HostSelectionError, match=r"not in the inventory: \['r9'\]"):
        HostFilter.coerce({"names": ["r1", "r9"]}).select(load_nornir(inventory))
    with pytest.raises(HostSelectionError, match=r"unknown fields \['site'\]"):
        HostFilter.coerce({"site": ["fra"]})
