"""Which devices a changed template file concerns (Renderer.sources / hosts_using), for a git push hook."""

from __future__ import annotations

from pathlib import Path

from nornir.core.inventory import Host

from nornflow.config.render import Renderer


def _tree(tmp_path: Path) -> Renderer:
    files = {
        "cisco_ios/spine.j2": "hostname {{ host.name }}\n{% include 'common/ntp.j2' %}\n",
        "cisco_ios/default.j2": "{% extends 'common/base.j2' %}\n",
        "common/base.j2": "hostname {{ host.name }}\n{% block body %}{% endblock %}\n",
        "common/ntp.j2": "{% import 'common/macros.j2' as m %}ntp server 192.0.2.1\n",
        "common/macros.j2": "{% macro x() %}{% endmacro %}\n",
        "arista_eos/default.j2": "{% include host.data.extra %}\n",  # a computed name: depends on everything
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return Renderer(tmp_path)


HOSTS = [Host("spine1", platform="cisco_ios", data={"role": "spine"}),
         Host("leaf1", platform="cisco_ios", data={"role": "leaf"}),
         Host("eos1", platform="arista_eos", data={"role": "leaf"}),
         Host("junos1", platform="juniper_junos", data={"role": "leaf"})]


def test_a_host_depends_on_its_template_what_it_includes_and_the_more_specific_candidates(tmp_path: Path) -> None:
    renderer = _tree(tmp_path)
    assert renderer.sources(HOSTS[0]) == {"cisco_ios/spine.j2", "common/ntp.j2", "common/macros.j2"}
    # leaf1 renders default.j2, which a new cisco_ios/leaf.j2 would replace
    assert renderer.sources(HOSTS[1]) == {"cisco_ios/leaf.j2", "cisco_ios/default.j2", "common/base.j2"}
    assert "*" in renderer.sources(HOSTS[2])
    assert renderer.sources(HOSTS[3]) == {"juniper_junos/leaf.j2", "juniper_junos/default.j2"}


def test_hosts_using_a_changed_file(tmp_path: Path) -> None:
    renderer = _tree(tmp_path)
    assert renderer.hosts_using(HOSTS, ["common/macros.j2"]) == ["spine1", "eos1"]
    assert renderer.hosts_using(HOSTS, ["./cisco_ios/leaf.j2"]) == ["leaf1", "eos1"]  # added: leaf1 switches to it
    assert renderer.hosts_using(HOSTS, ["common/base.j2"]) == ["leaf1", "eos1"]
    assert renderer.hosts_using(HOSTS, ["juniper_junos/default.j2"]) == ["eos1", "junos1"]
    assert renderer.hosts_using(HOSTS, []) == []
