"""Hosts from a real Nautobot: a real backup of the lab, filters, per-host secrets, clear failures.

The Nautobot and its data come from conftest.py (one server per session). Every secret the
run touches is a canary that must not appear in a result, a state message, a log line, an
artifact or an exception: the API token, the lab password, a rotated password, and a plain
password that a device's config context holds where a reference belongs.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from prefect.blocks.system import Secret

from nornflow.engine.run import result_of
from nornflow.flows import backup_configs
from nornflow.inventory.load import HostFilter, inventory_problems, load_nornir
from nornflow.inventory.sources import SourceAccessDenied, SourceError, SourceUnavailable
from tests.integration.sources.conftest import (
    BROKEN,
    LAB_PASSWORD,
    PLAIN_HOST,
    PLAIN_PASSWORD,
    ROTATED_HOST,
    ROTATED_PASSWORD,
    NautobotLab,
)
from tests.support.prefect_api import artifacts, flow_run_id, logs

pytestmark = pytest.mark.integration


def _canaries(nl: NautobotLab) -> tuple[str, ...]:
    return (nl.nautobot.token, LAB_PASSWORD, ROTATED_PASSWORD, PLAIN_PASSWORD)


def _scan(nl: NautobotLab, text: str, where: str) -> None:
    for value in _canaries(nl):
        assert value not in text, f"a secret leaked into {where}"


def test_backup_from_nautobot_with_per_host_secrets(nautobot_lab: NautobotLab, tmp_path: Path) -> None:
    nl = nautobot_lab
    backups = tmp_path / "backups"
    state = backup_configs(inventory=str(nl.source_file()), backup_dir=str(backups), retries=0,
                           failure_budget=len(BROKEN) + 1, return_state=True)
    result = result_of(state)
    records = {r.host: r for r in result.records}
    lab_hosts = set(nl.lab.devices)
    assert set(records) == lab_hosts | set(BROKEN)
    ok = {h for h, r in records.items() if r.ok}
    assert ok == lab_hosts - {PLAIN_HOST}, {h: r.error for h, r in records.items() if not r.ok}
    # ams-spine-02 ran with the password of its own secret (the others would be refused there).
    assert ROTATED_HOST in ok
    plain = records[PLAIN_HOST].error or ""
    assert f"device {PLAIN_HOST!r}" in plain and "nornflow.credentials.password" in plain
    assert "plain value where a secret reference is expected" in plain
    for host, reason in BROKEN.items():
        assert reason in (records[host].error or ""), records[host].error
    assert records["fra-spine-01"].site == "fra" and records["fra-spine-01"].role == "spine"
    assert records["fra-spine-01"].platform == "cisco_iosxe" and records["ams-spine-01"].platform == "arista_eos"
    saved = {p.stem for p in backups.glob("*.cfg")}
    assert saved == ok
    # Nothing secret anywhere the run left a trace.
    run = flow_run_id(state)
    _scan(nl, result.model_dump_json(), "the result")
    _scan(nl, state.message or "", "the state message")
    for key, artifact in artifacts(run).items():
        _scan(nl, json.dumps(artifact.data) if not isinstance(artifact.data, str) else artifact.data, key)
    messages = logs(run)
    assert any(m.startswith(f"Nautobot at {nl.nautobot.url}: 8 devices (all devices)") and "3 cannot run" in m
               for m in messages), messages
    assert any(PLAIN_HOST in m for m in messages)
    _scan(nl, "\n".join(messages), "the flow's logs")


@pytest.mark.parametrize("api", ["graphql", "rest"])
@pytest.mark.parametrize(("filters", "match"), [
    ({"locations": ["fra"]}, {"site": "fra"}),
    ({"roles": ["leaf"]}, {"role": "leaf"}),
    ({"tags": ["core"]}, {"tag": "core"}),
    ({"sites": "ams", "roles": "spine"}, {"site": "ams", "role": "spine"}),
    ({}, {}),
])
def test_filters_select_the_right_hosts(nautobot_lab: NautobotLab, api: str, filters: dict[str, Any],
                                        match: dict[str, Any]) -> None:
    """Filters go into the API query (a page size of 2 makes every answer span pages)."""
    nl = nautobot_lab
    nr = load_nornir(nl.source_file(f"filters-{api}.yaml", api=api, filters=filters, page_size=2))
    assert set(nr.inventory.hosts) == nl.hosts(**match)
    for name, host in nr.inventory.hosts.items():
        assert host.get("site") == nl.expected[name]["site"] and host.get("role") == nl.expected[name]["role"]
    assert set(inventory_problems(nr)) == {PLAIN_HOST, *BROKEN} & nl.hosts(**match)


def test_run_time_host_filter_over_nautobot_hosts(nautobot_lab: NautobotLab) -> None:
    nr = load_nornir(nautobot_lab.source_file())
    assert set(HostFilter.coerce({"tags": "core", "sites": "fra"}).select(nr)) == nautobot_lab.hosts(site="fra",
                                                                                                    tag="core")
    assert set(HostFilter.coerce({"platforms": "arista_eos"}).select(nr)) == {
        n for n, d in nautobot_lab.lab.devices.items() if d.platform == "arista_eos"}


def test_url_form(nautobot_lab: NautobotLab) -> None:
    nl = nautobot_lab
    url = f"nautobot+{nl.nautobot.url}/?token=secret:secret/nautobot-token&location=ams&role=spine&tag=core"
    nr = load_nornir(url)
    assert set(nr.inventory.hosts) == nl.hosts(site="ams", role="spine")


def test_unknown_filter_value_is_named(nautobot_lab: NautobotLab) -> None:
    with pytest.raises(SourceError, match=r"rejected the .*nowhere is not one of the available choices"):
        load_nornir(nautobot_lab.source_file("unknown.yaml", filters={"locations": ["nowhere"]}))


def test_bad_token_is_refused_clearly(nautobot_lab: NautobotLab) -> None:
    wrong = "0" * 40
    Secret(value=wrong).save("nautobot-wrong-token", overwrite=True)
    path = nautobot_lab.source_file("wrong-token.yaml", token="secret:secret/nautobot-wrong-token")
    with pytest.raises(SourceAccessDenied) as caught:
        load_nornir(path)
    text = str(caught.value)
    assert "refused the API token (HTTP 403" in text and "secret:secret/nautobot-wrong-token" in text
    assert wrong not in text


def test_nautobot_down_names_the_url_and_what_to_check(nautobot_lab: NautobotLab) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = nautobot_lab.source_file("down.yaml", url=closed)
    with pytest.raises(SourceUnavailable) as caught:
        load_nornir(path)
    text = str(caught.value)
    assert f"Nautobot at {closed} is not reachable" in text and "check that the server is up" in text
    assert str(path) in text
    # Through a flow: the run fails before any host, with the same message.
    state = backup_configs(inventory=str(path), backup_dir=str(nautobot_lab.directory / "down-backups"),
                           return_state=True)
    assert state.is_failed()
    with pytest.raises(SourceUnavailable, match="is not reachable"):
        result_of(state)
    _scan(nautobot_lab, text, "the exception")
