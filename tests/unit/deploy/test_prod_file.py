"""deployments/prod.yaml: the same flows as prefect.yaml, and a Prefect server on PostgreSQL by reference."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[3]
PROD = ROOT / "deployments" / "prod.yaml"
PASSWORD_REF = "${PREFECT_API_DATABASE_PASSWORD}"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def entrypoints(path: Path) -> set[str]:
    return {d["entrypoint"] for d in load(path)["deployments"]}


def server() -> dict[str, Any]:
    section: dict[str, Any] = load(PROD)["definitions"]["server"]
    return section


def test_prod_deploys_every_flow_that_prefect_yaml_deploys():
    assert entrypoints(PROD) == entrypoints(ROOT / "prefect.yaml")
    names = {d["entrypoint"].rsplit(":", 1)[1] for d in load(PROD)["deployments"]}
    assert {"fleet_report", "stack_health"} <= names


def test_prod_deployments_use_the_prod_pool_and_inventory():
    for entry in load(PROD)["deployments"]:
        assert entry["work_pool"]["name"] == "nornflow-prod", entry["entrypoint"]
        assert "prod" in entry["tags"]
        inventory = (entry.get("parameters") or {}).get("inventory")
        assert inventory == "/etc/nornflow/inventory/prod", entry["entrypoint"]


def test_server_runs_on_postgresql_with_the_password_by_reference():
    env = server()["env"]
    url = env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://")
    assert make_url(url.replace(PASSWORD_REF, "x")).database == "prefect"
    assert PASSWORD_REF in url                                  # a reference Prefect fills in at start
    assert "PREFECT_API_DATABASE_PASSWORD" in server()["secrets"]
    text = PROD.read_text(encoding="utf-8")
    assert not re.search(r"PREFECT_API_DATABASE_PASSWORD\s*:", text)   # the value is never in the file
    assert not re.search(r"postgresql\+asyncpg://[^:\s]+:(?!\$\{)[^@\s]+@", text)   # nor inline in any URL
    assert "sqlite" not in url


def test_prefect_fills_in_the_password_reference(monkeypatch):
    from prefect.settings import Settings

    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", server()["env"]["PREFECT_API_DATABASE_CONNECTION_URL"])
    monkeypatch.setenv("PREFECT_API_DATABASE_PASSWORD", "from-the-secret-store")
    url = Settings().server.database.connection_url
    assert url is not None
    assert make_url(url.get_secret_value()).password == "from-the-secret-store"


@pytest.mark.parametrize("name", ["PREFECT_MESSAGING_BROKER", "PREFECT_MESSAGING_CACHE",
                                  "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING", "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE",
                                  "PREFECT_SERVER_DOCKET_URL"])
def test_replica_settings_are_prefect_settings_pointing_at_redis(monkeypatch, name):
    from prefect.settings import Settings

    replicas = server()["replicas_env"]
    monkeypatch.setenv(name, replicas[name])
    settings = Settings().server
    read = {
        "PREFECT_MESSAGING_BROKER": settings.events.messaging_broker,
        "PREFECT_MESSAGING_CACHE": settings.events.messaging_cache,
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": settings.events.causal_ordering,
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": settings.concurrency.lease_storage,
        "PREFECT_SERVER_DOCKET_URL": settings.docket.url,
    }[name]
    assert read == replicas[name]
    assert read.startswith(("prefect_redis.", "redis://"))
    assert {"PREFECT_REDIS_MESSAGING_HOST", "PREFECT_REDIS_MESSAGING_PORT"} <= set(replicas)
