"""The source file and URL forms: what is accepted, and errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nornflow.inventory.sources import SourceError, source_spec
from nornflow.inventory.sources.spec import build_spec


def _write(tmp_path: Path, data: object, name: str = "nautobot.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_source_file_is_recognised(tmp_path: Path) -> None:
    path = _write(tmp_path, {"source": "nautobot", "url": "https://nb.example.com/api/",
                             "token": "secret:nornflow-vault/prod:nautobot#token",
                             "filters": {"sites": "fra, ams", "roles": ["spine"], "tags": "core"}})
    spec = source_spec(path)
    assert spec is not None
    assert spec.url == "https://nb.example.com" and spec.origin == str(path)
    assert spec.filters.locations == ["fra", "ams"] and spec.filters.tags == ["core"]
    assert spec.filters.describe() == "locations=fra,ams & roles=spine & tags=core"
    assert spec.label == "Nautobot at https://nb.example.com"


def test_simple_inventory_is_not_a_source(tmp_path: Path) -> None:
    assert source_spec(tmp_path) is None  # a directory
    hosts = _write(tmp_path, {"source": {"hostname": "10.0.0.1"}, "r2": {}}, "hosts.yaml")
    assert source_spec(hosts) is None  # a host named "source"
    assert source_spec(tmp_path / "missing.yaml") is None


def test_plain_token_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = _write(tmp_path, {"source": "nautobot", "url": "https://nb", "token": "0123456789abcdef-plain"})
    with pytest.raises(SourceError) as caught:
        source_spec(path)
    text = str(caught.value)
    assert str(path) in text and "token: token must be a secret reference" in text
    assert "0123456789abcdef-plain" not in text


def test_plain_password_in_defaults_is_refused(tmp_path: Path) -> None:
    data = {"source": "nautobot", "url": "https://nb", "token": "secret:secret/nb-token",
            "defaults": {"connection_options": {"scrapli": {"extras": {"auth_secondary": "enable-me-123"}}}}}
    with pytest.raises(SourceError, match=r"connection_options\.scrapli\.extras\.auth_secondary holds a plain") as c:
        build_spec(data, "x.yaml")
    assert "enable-me-123" not in str(c.value)


@pytest.mark.parametrize(("data", "message"), [
    ({"url": "https://nb", "token": "secret:secret/t"}, "source: Field required"),
    ({"source": "nautobot", "url": "nb.example.com", "token": "secret:secret/t"}, "must start with http"),
    ({"source": "nautobot", "url": "https://nb", "token": "secret:secret/t", "filters": {"racks": ["a"]}},
     "filters.racks: Extra inputs are not permitted"),
    ({"source": "nautobot", "url": "https://nb", "token": "secret:secret/t", "page_size": 5000},
     "page_size: Input should be less than or equal to 1000"),
    ({"source": "nautobot", "url": "https://nb", "token": "secret:secret/t", "defaults": {"groups": []}},
     "defaults has unknown keys"),
])
def test_spec_errors_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        build_spec(data, "nb.yaml")


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "nb.yaml"
    path.write_text("source: nautobot\nurl: [unclosed\n", encoding="utf-8")
    with pytest.raises(SourceError, match=rf"{path}:\d+: malformed YAML"):
        source_spec(path)


def test_url_form() -> None:
    spec = source_spec("nautobot+https://nb.example.com/?token=secret:nornflow-vault/prod:nb%23token"
                       "&location=fra,ams&role=spine&tag=core&api=rest&page_size=100")
    assert spec is not None
    assert spec.token == "secret:nornflow-vault/prod:nb#token"
    assert spec.url == "https://nb.example.com" and spec.api == "rest" and spec.page_size == 100
    assert spec.filters.locations == ["fra", "ams"] and spec.filters.roles == ["spine"]
    netbox = source_spec("netbox+http://netbox:8000?token=secret:secret/nb&site=fra")
    assert netbox is not None and netbox.source == "netbox" and netbox.label == "NetBox at http://netbox:8000"


@pytest.mark.parametrize(("url", "message"), [
    ("nautobot+https://nb/?token=secret:a/b#token", "write a reference's #key as %23key"),
    ("nautobot+https://nb/?token=secret:a/b&rack=1", r"unknown query parameters \['rack'\]"),
    ("nautobot+https://nb/?location=fra", "token: Field required"),
    ("nautobot+https://nb/?token=plain-token-value", "token must be a secret reference"),
])
def test_url_form_errors(url: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as caught:
        source_spec(url)
    assert "plain-token-value" not in str(caught.value)
