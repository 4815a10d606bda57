from __future__ import annotations

import pytest
from nornir.core.inventory import ConnectionOptions

from nornflow.exceptions import SecretNotFound
from nornflow.secrets import Resolver, references_for_host, refresh_host_credentials, resolve_inventory
from tests.unit.secrets.fakes import MemoryBackend, inventory

CORE = "secret:mem/main:net/core#password"
EDGE = "secret:mem/main:net/edge#password"
ENABLE = "secret:mem/main:net/enable"
USER = "secret:mem/main:net/core#username"
BROKEN = "secret:mem/main:net/missing#password"


@pytest.fixture
def mem() -> MemoryBackend:
    return MemoryBackend(
        {
            "net/core": {"username": "core-user", "password": "core-pw"},
            "net/edge": {"password": "edge-pw"},
            "net/enable": "enable-pw",
        }
    )


def resolver(mem: MemoryBackend) -> Resolver:
    return Resolver(backends={"mem": mem}, backoff=0.01)


def test_resolves_every_credential_field_in_place(mem: MemoryBackend) -> None:
    opts = {"scrapli": ConnectionOptions(extras={"auth_secondary": ENABLE, "auth_strict_key": False})}
    inv = inventory(
        {"r1": {"groups": ["core"], "connection_options": opts}, "r2": {"password": EDGE}},
        groups={"core": {"password": CORE}},
        defaults={"username": USER, "password": EDGE},
    )
    assert resolve_inventory(inv, resolver(mem)) == {}
    r1, r2 = inv.hosts["r1"], inv.hosts["r2"]
    assert (r1.username, r1.password) == ("core-user", "core-pw")
    assert (r2.username, r2.password) == ("core-user", "edge-pw")
    params = r1.get_connection_parameters("scrapli")
    assert params.extras == {"auth_secondary": "enable-pw", "auth_strict_key": False}
    assert params.password == "core-pw"
    assert sorted(mem.reads) == ["net/core", "net/edge", "net/enable"]
    assert references_for_host(r1) == [USER, CORE, ENABLE]
    assert references_for_host(r2) == [USER, EDGE]


def test_a_broken_group_reference_fails_only_the_hosts_that_inherit_it(mem: MemoryBackend) -> None:
    inv = inventory(
        {
            "in-group": {"groups": ["broken"]},
            "overrides": {"groups": ["broken"], "password": EDGE},
            "elsewhere": {},
        },
        groups={"broken": {"password": BROKEN}},
        defaults={"username": USER, "password": CORE},
    )
    errors = resolve_inventory(inv, resolver(mem))
    assert list(errors) == ["in-group"]
    assert BROKEN in errors["in-group"] and "from group 'broken'" in errors["in-group"]
    assert inv.hosts["overrides"].password == "edge-pw"
    assert inv.hosts["elsewhere"].password == "core-pw"
    for text in errors.values():
        assert "core-pw" not in text and "edge-pw" not in text


def test_a_broken_default_fails_every_host_that_uses_it(mem: MemoryBackend) -> None:
    inv = inventory({"a": {}, "b": {}, "c": {"password": CORE}}, defaults={"password": BROKEN})
    errors = resolve_inventory(inv, resolver(mem))
    assert sorted(errors) == ["a", "b"]
    assert "(from defaults)" in errors["a"] and BROKEN in errors["a"]
    assert inv.hosts["c"].password == "core-pw"


def test_plain_values_are_left_alone_and_a_second_pass_is_a_no_op(mem: MemoryBackend) -> None:
    inv = inventory({"a": {"username": "admin", "password": CORE}})
    r = resolver(mem)
    assert resolve_inventory(inv, r) == {}
    assert resolve_inventory(inv, r) == {}
    assert inv.hosts["a"].username == "admin"
    assert mem.reads == ["net/core"]


def test_refresh_host_credentials_after_rotation(mem: MemoryBackend) -> None:
    inv = inventory({"a": {}, "b": {}}, defaults={"password": CORE})
    r = resolver(mem)
    resolve_inventory(inv, r)
    mem.store["net/core"] = {"username": "core-user", "password": "core-pw-rotated"}
    assert inv.hosts["a"].password == "core-pw"
    assert refresh_host_credentials(inv.hosts["a"], r) is True
    assert inv.hosts["a"].password == "core-pw-rotated"
    assert inv.hosts["b"].password == "core-pw-rotated"  # shared through the defaults
    assert refresh_host_credentials(inv.hosts["a"], r) is False  # nothing changed since
    del mem.store["net/core"]
    with pytest.raises(SecretNotFound, match="net/core"):
        refresh_host_credentials(inv.hosts["a"], r)


def test_thousand_hosts_three_references_three_reads(mem: MemoryBackend) -> None:
    refs = [CORE, EDGE, ENABLE]
    inv = inventory({f"h{i}": {"password": refs[i % 3]} for i in range(1000)})
    assert resolve_inventory(inv, resolver(mem)) == {}
    assert len(mem.reads) == 3
