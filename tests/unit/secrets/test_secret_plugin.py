"""A separate package adds a backend through the ``nornflow.secret_backends`` entry-point group.

The fixture package lives in tests/fixtures/secret_plugin (installable with pip). Here it is
made discoverable the same way an installed package is: a ``*.dist-info`` directory with an
``entry_points.txt`` on ``sys.path``, which ``importlib.metadata`` scans. Nothing in NornFlow
is patched or told about it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nornflow.exceptions import SecretError
from nornflow.secrets import GROUP, Resolver

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "secret_plugin"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "nornflow_envsecrets-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nornflow-envsecrets\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\nenv-vars = nornflow_envsecrets:EnvVarsBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(FIXTURE))


def test_backend_is_unknown_without_the_package() -> None:
    with pytest.raises(SecretError, match="no secrets backend for block type 'env-vars'"):
        Resolver().resolve("secret:env-vars/lab:PASSWORD")


def test_third_party_backend_is_discovered_through_the_entry_point(
    installed_plugin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_PASSWORD", "from-the-plugin")
    resolver = Resolver()
    assert "env-vars" in resolver.backends.names()
    assert resolver.resolve("secret:env-vars/lab:PASSWORD") == "from-the-plugin"
    with pytest.raises(SecretError, match=r"LookupError\): environment variable LAB_MISSING is not set"):
        resolver.resolve("secret:env-vars/lab:MISSING")
