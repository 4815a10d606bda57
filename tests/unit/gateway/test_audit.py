import itertools
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from nornflow.gateway.audit.chain import GENESIS, KEYED, read_key, record_hash
from nornflow.gateway.audit.log import AuditLog
from nornflow.gateway.audit.redact import redact_detail
from nornflow.gateway.audit.verify import AuditVerification, check_against_event

TOKEN = "nft_0123456789abcdef_89abcdef_" + "a" * 32 + "_" + "b" * 64


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _filled(tmp_path, count=5) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(count):
        log.append(action="write", workspace="core", user=f"user{i}", ip="10.0.0.1", method="POST",
                   path=f"/w/core/api/deployments/{i}", status=201, detail={"n": i})
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def test_records_are_chained_and_verify(tmp_path):
    log = _filled(tmp_path)
    records = [json.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    key = read_key(tmp_path / "audit.key")
    assert key is not None and (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
    assert all(r["alg"] == KEYED and record_hash(r, key) == r["hash"] for r in records)
    assert all(record_hash(r) != r["hash"] for r in records)  # plain SHA-256 is not the scheme any more
    assert records[0]["outcome"] == "ok" and records[0]["status"] == 201
    datetime.fromisoformat(records[0]["ts"])
    result = log.verify()
    assert (result.ok, result.records, result.problem, result.seq) == (True, 5, None, None)
    assert log.head() == (5, records[-1]["hash"])
    assert log.path.stat().st_mode & 0o777 == 0o600


def test_an_edited_field_is_found_and_named_by_seq(tmp_path):
    log = _filled(tmp_path)
    lines = _lines(log)
    lines[2] = lines[2].replace('"user":"user2"', '"user":"mallory"')
    log.path.write_text("".join(lines))
    result = log.verify()
    assert not result.ok and result.seq == 3 and result.records == 2
    assert "altered" in result.problem and "seq 3" in result.problem


def test_a_deleted_middle_record_is_found(tmp_path):
    log = _filled(tmp_path)
    lines = _lines(log)
    del lines[2]
    log.path.write_text("".join(lines))
    result = log.verify()
    assert not result.ok and result.seq == 3
    assert "deleted" in result.problem


def test_a_reordered_record_is_found(tmp_path):
    log = _filled(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.path.write_text("".join(lines))
    result = log.verify()
    assert not result.ok and result.seq == 2


def test_a_rehashed_forgery_breaks_the_chain_at_the_next_record(tmp_path):
    log = _filled(tmp_path)
    lines = _lines(log)
    forged = json.loads(lines[1])
    forged["user"] = "mallory"
    forged["hash"] = record_hash(forged, read_key(tmp_path / "audit.key"))  # someone who holds the key
    lines[1] = json.dumps(forged) + "\n"
    log.path.write_text("".join(lines))
    result = log.verify()
    assert not result.ok and result.seq == 3 and "chain" in result.problem


def test_a_truncated_last_line_is_found_and_appending_continues(tmp_path):
    log = _filled(tmp_path)
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-20])
    log.close()
    result = AuditLog(log.path).verify()
    assert not result.ok and result.seq == 5 and "truncated" in result.problem
    reopened = AuditLog(log.path)
    record = reopened.append(action="login.ok", user="alice")
    assert record["seq"] == 5 and record["prev"] == json.loads(_lines(reopened)[3])["hash"]
    # The cut record stays visible as a damaged line; the new one sits on its own line.
    assert json.loads(_lines(reopened)[-1]) == record
    assert reopened.verify().seq == 5


def test_reopening_continues_the_chain(tmp_path):
    _filled(tmp_path, 3).close()
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.append(action="logout", user="bob")["seq"] == 4
    assert log.verify().ok


def test_concurrent_appends_from_threads_and_two_handles(tmp_path):
    logs = [AuditLog(tmp_path / "audit.jsonl"), AuditLog(tmp_path / "audit.jsonl")]

    def worker(n: int) -> None:
        for i in range(200):
            logs[n % 2].append(action="write", user=f"t{n}", detail={"i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = logs[0].verify()
    assert result.ok, result.problem
    assert result.records == 800


def test_concurrent_appends_from_processes(tmp_path):
    path = tmp_path / "audit.jsonl"
    script = (f"from nornflow.gateway.audit.log import AuditLog\nlog = AuditLog({str(path)!r})\n"
              "for i in range(100):\n    log.append(action='write', detail={'i': i})\n")
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    result = AuditLog(path).verify()
    assert result.ok, result.problem
    assert result.records == 300


def test_secrets_never_reach_the_file(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    record = log.append(
        action="login.failed", outcome="denied", user="alice", path=f"/login?next=/w/a&token={TOKEN}&x=1",
        detail={"password": "correct horse battery", "Authorization": "Basic c2VjcmV0",
                "nested": {"cookie": "nornflow_session=abc123session", "api_key": "AKIAEXAMPLE", "ok": 1},
                "items": [{"client_secret": "s3cr3t"}], "note": f"used {TOKEN}", "token_id": "0123456789abcdef",
                "when": datetime(2026, 1, 1, tzinfo=UTC)})
    text = log.path.read_text()
    for secret in ("correct horse battery", "c2VjcmV0", "abc123session", "AKIAEXAMPLE", "s3cr3t", TOKEN):
        assert secret not in text
        assert secret not in repr(record)
    assert record["detail"]["nested"] == {"ok": 1}
    assert record["detail"]["token_id"] == "0123456789abcdef"
    assert record["detail"]["note"] == "used nft_0123456789abcdef_<redacted>"
    assert record["path"] == "/login?next=/w/a&token=<redacted>&x=1"
    assert record["detail"]["when"].startswith("2026-01-01")
    assert log.verify().ok


def test_redact_detail_is_a_copy():
    detail = {"secret": "x", "keep": [1, 2]}
    assert redact_detail(detail) == {"keep": [1, 2]}
    assert detail["secret"] == "x"
    assert redact_detail(None) == {}


def test_tail_filters_and_keeps_order(tmp_path):
    clock = Clock()
    log = AuditLog(tmp_path / "audit.jsonl", now=clock)
    for i, (user, ws, action) in enumerate([("alice", "core", "login.ok"), ("bob", "core", "write"),
                                            ("alice", "edge", "write"), ("alice", "core", "login.failed"),
                                            ("bob", "edge", "approval")]):
        clock.now += timedelta(minutes=10)
        log.append(action=action, user=user, workspace=ws, detail={"i": i})
    assert [r["detail"]["i"] for r in log.tail()] == [0, 1, 2, 3, 4]
    assert [r["detail"]["i"] for r in log.tail(user="alice")] == [0, 2, 3]
    assert [r["detail"]["i"] for r in log.tail(workspace="edge")] == [2, 4]
    assert [r["detail"]["i"] for r in log.tail(action="login")] == [0, 3]
    assert [r["detail"]["i"] for r in log.tail(action="write", workspace="core")] == [1]
    assert [r["detail"]["i"] for r in log.tail(limit=2)] == [3, 4]
    since = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert [r["detail"]["i"] for r in log.tail(since=since)] == [2, 3, 4]
    assert [r["detail"]["i"] for r in log.tail(since=since.replace(tzinfo=None), user="bob")] == [4]
    assert log.tail(limit=0) == []


def test_on_append_callbacks_get_each_record_and_cannot_break_appends(tmp_path):
    seen = []

    def broken(record):
        raise RuntimeError("event sink down")

    log = AuditLog(tmp_path / "audit.jsonl", on_append=[broken, seen.append])
    record = log.append(action="token.create", user="alice")
    assert seen == [record]
    seen[0]["user"] = "mutated"
    assert record["user"] == "alice"


def test_action_names_must_fit_an_event_name(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ValueError, match="action"):
        log.append(action="Login OK")


# keyed chain and anchor ---------------------------------------------------------------------


def _rewrite_from(lines: list[str], start: int, key: bytes | None, keep_alg: bool) -> list[str]:
    """Rewrite records from index ``start`` on (user changed) and re-chain them as a forger would."""
    out = lines[:start]
    prev = json.loads(lines[start - 1])["hash"] if start else GENESIS
    for line in lines[start:]:
        record = json.loads(line)
        record["user"] = "mallory"
        record["prev"] = prev
        if not keep_alg:
            record.pop("alg")
        record["hash"] = prev = record_hash(record, key)
        out.append(json.dumps(record) + "\n")
    return out


def test_deleting_the_newest_record_is_found_by_the_anchor(tmp_path):
    log = _filled(tmp_path)
    log.path.write_text("".join(_lines(log)[:-1]))
    result = log.verify()
    assert not result.ok and result.records == 4
    assert "ends at seq 4" in result.problem and "anchor says seq 5" in result.problem and "deleted" in result.problem


def test_deleting_the_newest_records_stays_found_after_more_appends(tmp_path):
    log = _filled(tmp_path)
    log.path.write_text("".join(_lines(log)[:-2]))
    log.close()
    reopened = AuditLog(tmp_path / "audit.jsonl")
    reopened.append(action="login.ok", user="alice")
    reopened.append(action="login.ok", user="alice")  # seq 4 and 5 again, with other hashes
    result = reopened.verify()
    assert not result.ok and "record seq 5 is not the one the anchor names" in result.problem


@pytest.mark.parametrize(("key", "keep_alg"), [(None, False), (b"guessed-key" * 3, True), (None, True)],
                         ids=["downgraded-to-sha256", "wrong-key", "sha256-claiming-hmac"])
def test_a_chain_rewritten_from_the_middle_without_the_key_is_found(tmp_path, key, keep_alg):
    log = _filled(tmp_path)
    log.path.write_text("".join(_rewrite_from(_lines(log), 2, key, keep_alg)))
    result = log.verify()
    assert not result.ok and result.seq == 3, result
    assert "without the key" in result.problem or "without the audit key" in result.problem


def test_a_whole_log_rewritten_without_the_key_is_found_even_without_the_anchor(tmp_path):
    log = _filled(tmp_path)
    log.path.write_text("".join(_rewrite_from(_lines(log), 0, None, False)))
    (tmp_path / "audit.anchor").unlink()
    result = log.verify()
    assert not result.ok and "anchor" in result.problem and "missing" in result.problem


def test_a_forged_anchor_is_found(tmp_path):
    log = _filled(tmp_path)
    anchor = json.loads((tmp_path / "audit.anchor").read_text())
    (tmp_path / "audit.anchor").write_text(json.dumps({**anchor, "seq": 3}))
    result = log.verify()
    assert not result.ok and "forged" in result.problem


def test_an_unkeyed_log_from_before_keys_verifies_and_continues_keyed(tmp_path):
    path, prev, lines = tmp_path / "audit.jsonl", GENESIS, []
    for seq in (1, 2):
        record = {"seq": seq, "ts": "2026-01-01T00:00:00+00:00", "workspace": None, "user": "old", "action": "write",
                  "outcome": "ok", "ip": None, "method": None, "path": None, "status": None, "detail": {},
                  "prev": prev}
        record["hash"] = prev = record_hash(record)
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))
    log = AuditLog(path)
    legacy = log.verify()
    assert legacy.ok and legacy.records == 2 and legacy.notes and not (tmp_path / "audit.key").exists()
    assert log.append(action="login.ok", user="alice")["alg"] == KEYED
    result = log.verify()
    assert result.ok and result.records == 3 and not result.notes, result
    # A keyed record may not be followed by an unkeyed one: that is a downgrade.
    log.path.write_text("".join(_rewrite_from(_lines(log), 2, None, False)))
    assert not log.verify().ok


def test_the_newest_event_is_compared_with_the_log(tmp_path):
    log = _filled(tmp_path)
    result = log.verify()
    hashes = {json.loads(line)["seq"]: json.loads(line)["hash"] for line in _lines(log)}
    assert check_against_event(result, hashes, 5, hashes[5], "core") is None
    assert check_against_event(result, hashes, 3, hashes[3], "core") is None  # noisy records are not all shipped
    assert "ends at seq 5" in check_against_event(result, hashes, 7, "f" * 64, "core")
    assert "rewritten" in check_against_event(result, hashes, 4, "f" * 64, "core")
    truncated = AuditVerification(True, 3, head=(3, hashes[3]))
    assert "newest 2 record(s) were deleted" in check_against_event(truncated, hashes, 5, hashes[5], "core")


def test_a_workspace_that_is_down_is_asked_again_after_a_backoff_not_at_every_record(tmp_path, caplog) -> None:
    """A dead workspace server: one attempt, then none until its backoff ends (it had been one per record)."""
    import asyncio
    import logging

    import httpx

    from nornflow.gateway.audit.events import AuditShipper
    from nornflow.gateway.proxy.upstream import Upstream, free_port
    from nornflow.gateway.store import GatewayStore

    audit = AuditLog(tmp_path / "audit.jsonl")
    store = GatewayStore(tmp_path / "gateway.db")
    dead = Upstream(name="core", base_url=f"http://127.0.0.1:{free_port()}", auth_string="u:p")
    attempts: list[str] = []

    async def main() -> list[int]:
        async def count(request: httpx.Request) -> None:
            attempts.append(str(request.url))

        async with httpx.AsyncClient(event_hooks={"request": [count]}, timeout=2) as client:
            shipper = AuditShipper(audit, store, {"core": dead}, client)
            shipped = []
            for n in range(5):
                audit.append("token.create", workspace="core", user="otto", detail={"n": n})
                shipped.append(await shipper.ship_once())
            return shipped

    with caplog.at_level(logging.WARNING, logger="nornflow.gateway"):
        assert asyncio.run(main()) == [0, 0, 0, 0, 0]
    assert len(attempts) == 1, attempts
    warnings = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(warnings) == 1 and "retried at most every 10 s" in warnings[0]
