"""blocks/register.py: block documents from a config with ${VAR}s, idempotently, never literal secrets."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from nornflow.secrets import Resolver

SCRIPT = Path(__file__).resolve().parents[3] / "blocks" / "register.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nornflow_blocks_register", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_config_parses_and_holds_no_values() -> None:
    config = yaml.safe_load((SCRIPT.parent / "environments.example.yaml").read_text())
    register = load_script()
    for entries in config["environments"].values():
        for entry in entries:
            assert entry["type"] in register.block_classes()


def test_register_is_idempotent_and_refuses_literal_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    register = load_script()
    monkeypatch.setenv("IT_DOPPLER_TOKEN", "dp.st.from-env")
    monkeypatch.setenv("IT_LAB_PW", "lab-pw-from-env")
    config = {
        "environments": {
            "it": [
                {"type": "secret", "name": "it-reg-lab", "fields": {"value": "${IT_LAB_PW}"}},
                {
                    "type": "nornflow-doppler",
                    "name": "it-reg-doppler",
                    "fields": {"token": "${IT_DOPPLER_TOKEN}", "api_url": "http://127.0.0.1:9"},
                },
            ]
        }
    }
    assert register.apply(config, "it") == [
        ("secret/it-reg-lab", "created"),
        ("nornflow-doppler/it-reg-doppler", "created"),
    ]
    assert [s for _, s in register.apply(config, "it")] == ["unchanged", "unchanged"]
    monkeypatch.setenv("IT_LAB_PW", "lab-pw-rotated")
    assert [s for _, s in register.apply(config, "it")] == ["updated", "unchanged"]
    assert Resolver().resolve("secret:secret/it-reg-lab") == "lab-pw-rotated"

    literal = {
        "environments": {"it": [{"type": "nornflow-doppler", "name": "x", "fields": {"token": "dp.st.x"}}]}
    }
    with pytest.raises(SystemExit, match="secret field"):
        register.apply(literal, "it")
    monkeypatch.delenv("IT_DOPPLER_TOKEN")
    with pytest.raises(SystemExit, match="IT_DOPPLER_TOKEN is not set"):
        register.apply(config, "it")
