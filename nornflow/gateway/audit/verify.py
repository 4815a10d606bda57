"""Checking the audit log: the chain walked from the first record, its end against the anchor, and the
newest record against the event shipped to a workspace (:func:`check_against_event`)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nornflow.gateway.audit.chain import GENESIS, KEYED, Anchor, parse_record, record_hash


@dataclass(frozen=True)
class AuditVerification:
    """The result of :meth:`AuditLog.verify`: ``seq`` is the first record that is not as written."""

    ok: bool
    records: int
    problem: str | None = None
    seq: int | None = None
    head: tuple[int, str] = (0, GENESIS)
    notes: tuple[str, ...] = ()


def anchor_problem(key: bytes | None, anchor: Anchor | None, last: tuple[int, str], at_anchor: str | None,
                    keyed_seen: bool, path: Path) -> str | None:
    """Why the log's end disagrees with the anchor, or None when it agrees."""
    if anchor is None:
        if key is not None or keyed_seen:
            return (f"the audit anchor {str(path)!r} is missing although the log is keyed: it was deleted, so the "
                    "newest records may have been removed with it; compare with the workspaces' events "
                    "(nornflow audit verify --against-events)")
        return None
    if key is None or not anchor.valid(key):
        return f"the audit anchor {str(path)!r} was not written with the audit key: it was forged or replaced"
    if last[0] < anchor.seq:
        return (f"the log ends at seq {last[0]} but the anchor says seq {anchor.seq}: the newest "
                f"{anchor.seq - last[0]} record(s) were deleted")
    if at_anchor != anchor.hash:
        return (f"record seq {anchor.seq} is not the one the anchor names: the log was rewritten "
                f"from seq {anchor.seq} or earlier")
    return None


def check_against_event(verified: AuditVerification, records_by_seq: Mapping[int, str],
                        event_seq: int, event_hash: str, workspace: str) -> str | None:
    """Compare the newest audit event shipped to ``workspace`` with the log; None when it agrees.

    ``records_by_seq`` maps the log's seqs to their hashes (at least ``event_seq``'s).
    """
    if event_seq > verified.head[0]:
        return (f"workspace {workspace!r} holds audit event seq {event_seq} but the log ends at seq "
                f"{verified.head[0]}: the newest {event_seq - verified.head[0]} record(s) were deleted")
    if records_by_seq.get(event_seq) != event_hash:
        return (f"record seq {event_seq} differs from the audit event shipped to workspace {workspace!r}: "
                "the log was rewritten from that record or earlier")
    return None


def verify_chain(path: Path, key: bytes | None, anchor: Anchor | None, key_path: Path,
                 anchor_path: Path) -> AuditVerification:
    """Walk the whole chain at ``path`` and compare its end with ``anchor``; report the first problem."""
    prev, expected, last = GENESIS, 1, (0, GENESIS)
    keyed_seen, at_anchor = False, None

    def bad(problem: str) -> AuditVerification:
        return AuditVerification(False, expected - 1, problem, expected, last)

    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.endswith(b"\n"):
                return bad(f"line {number} (seq {expected}) is truncated: the file ends in the middle of a record")
            record = parse_record(raw)
            if record is None or not isinstance(record.get("hash"), str):
                return bad(f"line {number} (seq {expected}) is not a JSON audit record")
            alg = record.get("alg")
            if alg == KEYED:
                if key is None:
                    return bad(f"record seq {expected} is keyed but the audit key {str(key_path)!r} is "
                               "missing: restore it from the backup of the data directory")
                keyed_seen = True
            elif alg is not None:
                return bad(f"record seq {expected} (line {number}) names an unknown scheme {alg!r}")
            elif keyed_seen or (anchor is not None and expected >= anchor.keyed_since):
                return bad(f"record seq {expected} (line {number}) is not keyed although the log is keyed from "
                           "an earlier record on: the chain was rewritten from here without the key")
            if not hmac.compare_digest(record_hash(record, key if alg else None), record["hash"]):
                return bad(f"record seq {expected} (line {number}) was altered or rewritten without the audit "
                           "key: its hash does not match")
            if record.get("seq") != expected:
                return bad(f"line {number} holds seq {record.get('seq')!r} where seq {expected} belongs: "
                           "a record was deleted, inserted or reordered")
            if record.get("prev") != prev:
                return bad(f"record seq {expected} (line {number}) does not chain to the record before it: "
                           "that record was replaced, or the chain was rewritten from here")
            if anchor is not None and expected == anchor.seq:
                at_anchor = record["hash"]
            prev, expected = record["hash"], expected + 1
            last = (expected - 1, prev)
    records = expected - 1
    problem = anchor_problem(key, anchor, last, at_anchor, keyed_seen, anchor_path)
    if problem:
        return AuditVerification(False, records, problem, anchor.seq if anchor else None, last)
    notes = () if anchor else ("a log from before audit keys: nothing anchors its newest records yet "
                               "(the next record written creates the key and the anchor)",)
    return AuditVerification(True, records, head=last, notes=notes)
