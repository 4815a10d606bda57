"""``nornflow audit verify --against-events``: the newest audit event each workspace received is the
anchor that lives outside the gateway's data directory, so even someone holding the audit key, who
cuts the log and rewrites the local anchor to match, is caught. Real gateway, real Prefect server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

from nornflow.gateway.audit.chain import anchor_mac, read_anchor, read_key
from nornflow.gateway.proxy.upstream import free_port
from nornflow.gateway.serve import running
from nornflow.gateway.settings import load_settings

PASSWORD = "correct-horse-battery"  # test user only


def _verify(data_dir: Path, port: int, auth: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NORNFLOW_", "PREFECT_API_AUTH"))}
    env.update({"NORNFLOW_DATA_DIR": str(data_dir), "NORNFLOW_PORT": str(port),
                "NORNFLOW_WORKSPACES": '[{"name": "solo"}]'})
    return subprocess.run([sys.executable, "-m", "nornflow.cli", "audit", "verify", "--against-events",
                           "--events-auth", f"solo={auth}"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _newest_event_seq(client: httpx.Client) -> int:
    reply = client.post("/w/solo/api/events/filter", json={
        "filter": {"event": {"prefix": ["nornflow.audit."]}, "order": "DESC"}, "limit": 1})
    events = reply.json().get("events") if reply.status_code == 200 else None
    return int(events[0]["payload"]["seq"]) if events else 0


def test_a_cut_log_with_a_rewritten_anchor_is_caught_by_the_workspace_events(tmp_path):
    port = free_port()
    settings = load_settings(None, host="127.0.0.1", port=port, data_dir=tmp_path / "live",
                             workspaces=[{"name": "solo"}])
    with running(settings) as gw:
        gw.gateway.store.add_user("vic", PASSWORD, {"solo": ["viewer"]})
        _, secret = gw.gateway.store.create_token("vic", "solo", ["viewer"], timedelta(hours=1))
        for n in range(3):
            gw.gateway.audit.append(action="write", workspace="solo", user="vic", detail={"n": n})
        head = gw.gateway.audit.head()[0]
        with httpx.Client(base_url=gw.url, auth=("vic", secret), timeout=10) as client:
            deadline = time.monotonic() + 60
            while _newest_event_seq(client) < head and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _newest_event_seq(client) >= head, "the audit events did not reach the workspace in 60 s"

        intact = _verify(settings.data_dir, port, f"vic:{secret}")
        assert intact.returncode == 0, intact.stderr
        assert "workspace solo: newest audit event seq" in intact.stdout and "matches the log" in intact.stdout

        # Someone with the key: copy the data dir, drop the newest record, anchor the shorter log.
        copy = tmp_path / "copy"
        shutil.copytree(settings.data_dir, copy, ignore=shutil.ignore_patterns("workspaces"))
        lines = (copy / "audit.jsonl").read_text().splitlines(keepends=True)
        newest = json.loads(lines[-1])
        (copy / "audit.jsonl").write_text("".join(lines[:-1]))
        kept, key, anchor = json.loads(lines[-2]), read_key(copy / "audit.key"), read_anchor(copy / "audit.anchor")
        assert key is not None and anchor is not None
        (copy / "audit.anchor").write_text(json.dumps({
            "seq": kept["seq"], "hash": kept["hash"], "keyed_since": anchor.keyed_since,
            "mac": anchor_mac(key, kept["seq"], kept["hash"], anchor.keyed_since)}))

        caught = _verify(copy, port, f"vic:{secret}")
        assert caught.returncode == 1, caught.stdout + caught.stderr
        assert "audit log intact" in caught.stdout  # the local checks alone are fooled ...
        assert (f"holds audit event seq {newest['seq']} but the log ends at seq {kept['seq']}" in caught.stderr
                and "TAMPERED" in caught.stderr)  # ... the workspace's events are not

        no_token = _verify(copy, port, "vic:nft_wrong")
        assert no_token.returncode == 2 and "not checked" in no_token.stderr and "401" in no_token.stderr
        assert secret not in intact.stdout + intact.stderr + caught.stdout + caught.stderr
