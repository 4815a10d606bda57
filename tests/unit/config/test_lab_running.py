"""The lab device's config model: what config-mode lines do to the running config."""

from __future__ import annotations

from nornflow.lab.running import ConfigSession, parse, render

BASE = """hostname r1
!
ntp server 10.0.0.1
!
interface Ethernet0/1
 description old
 shutdown
!
router bgp 100
 address-family ipv4
  neighbor 1.1.1.1 activate
!
end
"""


def _apply(lines: list[str], base: str = BASE) -> tuple[str, ConfigSession]:
    root = parse(base)
    session = ConfigSession(root)
    for line in lines:
        if line.strip() == "exit":
            session.exit()
        else:
            session.apply(line)
    return render(root), session


def test_parse_and_render_round_trip():
    shown = render(parse(BASE))  # "!" after each section, "end" last, one space per level
    assert shown == BASE.replace("hostname r1\n!\n", "hostname r1\n").replace("10.0.0.1\n!\n", "10.0.0.1\n")
    assert render(parse(shown)) == shown


def test_indented_remediation_lands_in_its_sections():
    text, _ = _apply(["interface Ethernet0/1", "  description new", "  no shutdown", "router bgp 100",
                      "  address-family ipv4", "    neighbor 2.2.2.2 activate", "ntp server 10.0.0.2"])
    assert " description new\n" in text and "description old" not in text and "shutdown" not in text
    assert "  neighbor 1.1.1.1 activate\n  neighbor 2.2.2.2 activate\n" in text
    assert "ntp server 10.0.0.2\n" in text and not text.startswith(" ")


def test_flat_lines_typed_by_a_person_and_sub_mode_prompts():
    text, session = _apply(["interface Ethernet0/2"])
    assert session.mode == "config-if"
    text, session = _apply(["interface Ethernet0/2", "description typed", "ntp server 10.9.9.9"])
    assert "interface Ethernet0/2\n description typed\n" in text
    assert session.mode == "config"  # a global command leaves the interface, as on IOS
    _, session = _apply(["router bgp 100", "address-family ipv4"])
    assert session.mode == "config-router-af"


def test_no_removes_lines_and_sections_and_exit_pops_one_level():
    text, _ = _apply(["no ntp server 10.0.0.1", "no interface Ethernet0/1"])
    assert "ntp server" not in text and "Ethernet0/1" not in text
    text, _ = _apply(["interface Ethernet0/1", "exit", "hostname r2"])
    assert "hostname r2\n" in text and "hostname r1" not in text and " hostname" not in text


def test_eos_indentation_of_three_spaces():
    eos = "interface Ethernet1\n   description a\n!\nend\n"
    root = parse(eos)
    assert render(root, indent=3) == eos
