"""Rendering intended configs: template choice, StrictUndefined, errors naming template, line, host."""

from __future__ import annotations

import pytest
from nornir.core.inventory import Host

from nornflow.config.exceptions import TemplateError
from nornflow.config.render import Renderer


def _host(name="r1", platform="cisco_iosxe", **data):
    return Host(name=name, platform=platform, data={"role": "leaf", **data})


@pytest.fixture
def templates(tmp_path):
    (tmp_path / "cisco_iosxe").mkdir()
    (tmp_path / "cisco_iosxe" / "default.j2").write_text("hostname {{ host.name }}\n\nntp server {{ ntp }}\n")
    (tmp_path / "cisco_iosxe" / "spine.j2").write_text("hostname spine-{{ host.name }}\n")
    return tmp_path


def test_role_template_wins_over_default_and_blank_lines_go(templates):
    renderer = Renderer(templates)
    assert renderer.render(_host(ntp="10.0.0.1")) == "hostname r1\nntp server 10.0.0.1\n"
    assert renderer.render(_host(role="spine")) == "hostname spine-r1\n"


def test_missing_data_names_template_line_and_host(templates):
    with pytest.raises(TemplateError) as caught:
        Renderer(templates).render(_host(name="edge-7"))
    text = str(caught.value)
    assert "cisco_iosxe/default.j2:3" in text and "'edge-7'" in text and "'ntp' is undefined" in text


def test_syntax_error_names_template_and_line(templates):
    (templates / "cisco_iosxe" / "default.j2").write_text("hostname x\n{% if %}\n")
    with pytest.raises(TemplateError, match=r"cisco_iosxe/default.j2:2 does not parse.*'r1'"):
        Renderer(templates).render(_host())


def test_no_template_for_the_platform_lists_what_was_searched(templates):
    with pytest.raises(TemplateError, match=r"arista_eos/leaf\.j2, arista_eos/default\.j2"):
        Renderer(templates).render(_host(platform="arista_eos"))
    with pytest.raises(TemplateError, match="does not exist"):
        Renderer(templates / "nope")


def test_example_templates_render_for_a_lab_host():
    from pathlib import Path

    examples = Path(__file__).resolve().parents[3] / "examples" / "templates"
    text = Renderer(examples).render(
        _host(name="fra-spine-01", role="spine", site="fra", mgmt_ip="192.168.0.1", loopback_ip="10.255.0.1"))
    assert "ntp server 10.1.0.1" in text and "description spine to core 1" in text
