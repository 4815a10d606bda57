import pytest

from nornflow.config.backups import BackupStore, atomic_write
from nornflow.exceptions import BackupError


def test_save_reports_new_changed_unchanged_with_diff(tmp_path):
    store = BackupStore(tmp_path / "b")
    assert store.save("r1", "a\nb\n").status == "new"
    assert store.save("r1", "a\nb\n").status == "unchanged"
    change = store.save("r1", "a\nc\n")
    assert change.status == "changed"
    assert "-b\n+c" in change.diff
    sha = store.commit("run x", [change])
    assert sha and store.history() == ["run x"]
    assert store.commit("run y", [store.save("r1", "a\nc\n")]) is None


def test_atomic_write_never_leaves_half_a_file(tmp_path, monkeypatch):
    target = tmp_path / "r1.cfg"
    target.write_text("old\n")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new but never finished\n")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_unsafe_host_name_is_refused(tmp_path):
    with pytest.raises(BackupError, match="cannot be a file name"):
        BackupStore(tmp_path).path("../etc/passwd")


def test_file_restored_to_committed_content_commits_nothing(tmp_path):
    store = BackupStore(tmp_path)
    store.commit("first", [store.save("r1", "a\n")])
    (tmp_path / "r1.cfg").write_text("edited by hand\n")
    assert store.commit("second", [store.save("r1", "a\n")]) is None
    assert store.history() == ["first"]
