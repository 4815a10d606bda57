"""``nornflow watch``'s watcher on a real directory: events by content, state across restarts, no escape."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nornflow.triggers.watch import Watcher, WatchError, default_state_file


class Outbox:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.down = False

    def __call__(self, events: list[dict[str, Any]]) -> None:
        if self.down:
            raise ConnectionError("server away")
        self.events.extend(events)

    def take(self) -> list[tuple[str, str]]:
        seen = [(e["event"], e["payload"]["path"]) for e in self.events]
        self.events.clear()
        return seen


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    directory = tmp_path / "drop"
    (directory / "requests").mkdir(parents=True)
    return directory


def test_created_changed_removed_by_content(drop):
    out = Outbox()
    watcher = Watcher(drop, out)
    (drop / "requests" / "cr-1.yaml").write_text("hosts: [r1]\n")
    watcher.sync()
    event = out.events[0]
    assert event["event"] == "nornflow.file.created"
    assert event["resource"]["prefect.resource.id"] == "nornflow.file.requests/cr-1.yaml"
    assert event["payload"] == {"path": "requests/cr-1.yaml", "size": 12, "directory": str(drop.resolve()),
                                "sha256": hashlib.sha256(b"hosts: [r1]\n").hexdigest()}
    out.take()
    os.utime(drop / "requests" / "cr-1.yaml", ns=(1, 1))  # touched, same content: nothing
    assert watcher.sync() == [] and out.take() == []
    (drop / "requests" / "cr-1.yaml").write_text("hosts: [r2]\n")
    watcher.sync()
    assert out.take() == [("nornflow.file.changed", "requests/cr-1.yaml")]
    (drop / "requests" / "cr-1.yaml").unlink()
    watcher.sync()
    assert out.take() == [("nornflow.file.removed", "requests/cr-1.yaml")]


def test_a_restart_does_not_fire_again_but_reports_what_changed_while_down(drop):
    out = Outbox()
    (drop / "a.txt").write_text("a")
    (drop / "b.txt").write_text("b")
    Watcher(drop, out).sync()
    assert len(out.take()) == 2
    state = default_state_file(drop)
    assert state.parent == drop.resolve().parent and set(json.loads(state.read_text())["files"]) == {"a.txt", "b.txt"}
    assert Watcher(drop, out).sync() == []  # restarted: nothing new
    (drop / "b.txt").write_text("B")
    (drop / "a.txt").unlink()
    (drop / "c.txt").write_text("c")
    Watcher(drop, out).sync()
    assert sorted(out.take()) == [("nornflow.file.changed", "b.txt"), ("nornflow.file.created", "c.txt"),
                                  ("nornflow.file.removed", "a.txt")]


def test_symlinks_out_of_the_directory_are_refused_and_logged(drop, tmp_path, caplog):
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours")
    (drop / "escape.txt").symlink_to(secret)
    (drop / "up").symlink_to(tmp_path, target_is_directory=True)
    (drop / "inside.txt").write_text("in")
    (drop / "alias.txt").symlink_to(drop / "inside.txt")
    out = Outbox()
    with caplog.at_level(logging.WARNING, logger="nornflow.watch"):
        Watcher(drop, out).sync()
        Watcher(drop, out).sync()
    assert sorted(out.take()) == [("nornflow.file.created", "alias.txt"), ("nornflow.file.created", "inside.txt")]
    refusals = [r.getMessage() for r in caplog.records]
    assert any("refused escape.txt: a symlink to" in m and "outside" in m for m in refusals)
    assert any("refused up: a symlinked directory is not followed" in m for m in refusals)
    assert len([m for m in refusals if "escape.txt" in m]) == 2  # once per watcher, not per scan


def test_hidden_and_partial_files_are_ignored(drop):
    out = Outbox()
    for name in (".x.yaml", "x.yaml.tmp", "x.yaml~", "x.part"):
        (drop / name).write_text("half")
    (drop / ".git").mkdir()
    (drop / ".git" / "HEAD").write_text("ref")
    Watcher(drop, out).sync()
    assert out.take() == []


def test_a_failed_send_keeps_the_state_and_is_retried(drop):
    out = Outbox()
    watcher = Watcher(drop, out)
    (drop / "a.txt").write_text("a")
    out.down = True
    assert watcher.sync() == [] and watcher.pending
    assert not default_state_file(drop).exists()
    out.down = False
    watcher.sync()
    assert out.take() == [("nornflow.file.created", "a.txt")] and not watcher.pending


def test_bad_inputs_name_the_path(drop, tmp_path):
    with pytest.raises(WatchError, match="is not a directory"):
        Watcher(tmp_path / "missing", Outbox())
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(WatchError, match="cannot read the watch state"):
        Watcher(drop, Outbox(), state)
    state.write_text(json.dumps({"directory": "/elsewhere", "files": {}}))
    with pytest.raises(WatchError, match="is not the watch state of"):
        Watcher(drop, Outbox(), state)
    (drop / "a.txt").write_text("a")
    with pytest.raises(WatchError, match="cannot write the watch state"):
        Watcher(drop, Outbox(), tmp_path / "no-such-dir" / "state.json").sync()


def test_run_reports_a_drop_and_stops_on_the_event(drop):
    out = Outbox()
    watcher = Watcher(drop, out)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), kwargs={"debounce_ms": 100})
    thread.start()
    try:
        time.sleep(0.5)
        (drop / "requests" / "new.yaml").write_text("x")
        deadline = time.monotonic() + 10
        while not out.events and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.take() == [("nornflow.file.created", "requests/new.yaml")]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
