import textwrap

import pytest

from nornflow.exceptions import HostSelectionError, InventoryError
from nornflow.inventory.load import HostFilter, load_nornir

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


def test_inventory_means_what_nornirs_simple_inventory_means(tmp_path):
    """load_nornir builds hosts from one libyaml parse; every field must match InitNornir's SimpleInventory."""
    from nornir import InitNornir

    (tmp_path / "hosts.yaml").write_text(HOSTS + "r4:\n  hostname: r4.example.net\n  groups: [eos, core]\n"
                                         "  username: ops\n  connection_options:\n"
                                         "    scrapli: {port: 2222, extras: {transport: asyncssh}}\n")
    (tmp_path / "groups.yaml").write_text(GROUPS + "core:\n  groups: [ios]\n  data: {tier: 1, ntp: [a, b]}\n")
    (tmp_path / "defaults.yaml").write_text("username: admin\npassword: pw\ndata: {domain: lab}\n"
                                            "connection_options: {scrapli: {extras: {auth_strict_key: false}}}\n")
    ours = load_nornir(tmp_path).inventory
    theirs = InitNornir(inventory={"plugin": "SimpleInventory", "options": {
        "host_file": str(tmp_path / "hosts.yaml"), "group_file": str(tmp_path / "groups.yaml"),
        "defaults_file": str(tmp_path / "defaults.yaml")}}, logging={"enabled": False}).inventory
    assert ours.dict() == theirs.dict()
    for name, host in theirs.hosts.items():
        mine = ours.hosts[name]
        assert (mine.hostname, mine.port, mine.username, mine.password, mine.platform) == (
            host.hostname, host.port, host.username, host.password, host.platform)
        assert dict(mine.items()) == dict(host.items())  # data, inherited through groups and defaults
        assert mine.get_connection_parameters("scrapli").dict() == host.get_connection_parameters("scrapli").dict()
    assert ours.hosts["r4"].get("tier") == 1 and ours.hosts["r4"].platform == "arista_eos"


def test_a_malformed_inventory_still_names_the_line(inventory):
    (inventory / "hosts.yaml").write_text(HOSTS + "r9:\n  hostname: 127.0.0.1\n  port: 99999\n")
    with pytest.raises(InventoryError, match=r"hosts.yaml:16: 'r9' port 99999"):
        load_nornir(inventory)


def test_connection_plugins_load_on_first_use_and_agree_with_auto_register(inventory):
    """load_nornir registers nornir-scrapli's plugins without importing them (scrapli-cfg, lxml);
    a lookup imports the real class, and a later auto_register() or a conflicting register() still
    behave as Nornir's own table does."""
    import subprocess
    import sys

    script = textwrap.dedent(f"""
        import sys
        from nornflow.inventory.load import load_nornir
        from nornir.core.exceptions import PluginAlreadyRegistered
        from nornir.core.plugins.connections import ConnectionPluginRegister as R
        load_nornir({str(inventory)!r})
        assert "scrapli" in R.available and "scrapli_cfg" not in sys.modules and "lxml" not in sys.modules
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(16) as pool:  # host threads look the plugin up at once
            found = list(pool.map(lambda _: R.get_plugin("scrapli"), range(64)))
        from nornir_scrapli.connection import ScrapliCore
        assert found == [ScrapliCore] * 64
        R.auto_register()
        assert set(R.available) >= {{"scrapli", "scrapli_cfg", "scrapli_netconf"}}
        try:
            R.register("scrapli", object)
        except PluginAlreadyRegistered:
            print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
