"""Run records without Prefect: hashes per file, secret references by name, replay's comparison."""

from __future__ import annotations

from nornflow.change.record import RunRecord, secret_references, source, versions
from nornflow.change.replay import compare, load_record
from nornflow.redaction import clear, register


def test_source_hashes_every_file_and_skips_git(tmp_path):
    (tmp_path / "a.j2").write_text("one\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.j2").write_text("two\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref\n")
    first = source(tmp_path)
    assert sorted(first.files) == ["a.j2", "sub/b.j2"] and first.git_commit is None
    (tmp_path / "a.j2").write_text("changed\n")
    assert source(tmp_path).hash != first.hash


def test_secret_references_are_names_only():
    text = 'password: "secret:nornflow-vault/prod:network/core#password"\nuser: secret:secret/lab#username || x'
    assert secret_references(text) == ["secret:nornflow-vault/prod:network/core#password", "secret:secret/lab#username"]


def test_record_json_redacts_registered_values_and_replay_names_differences(tmp_path):
    templates = tmp_path / "t"
    templates.mkdir()
    (templates / "x.j2").write_text("a\n")
    clear()  # values other tests registered (a user name, say) would mask parts of the package names
    register("hunter2-value")
    try:
        record = RunRecord(flow="f", flow_run_id="r", templates=source(templates), versions=versions(),
                           parameters={"note": "hunter2-value"})
        path = tmp_path / "record.json"
        path.write_text(record.to_json())
        assert "hunter2-value" not in path.read_text() and "hunter2-value" not in record.markdown()
    finally:
        clear()
    loaded = load_record(str(path))
    assert compare(loaded) == []
    (templates / "x.j2").write_text("b\n")
    (templates / "x.j2").rename(templates / "y.j2")
    assert compare(loaded) == ["templates: x.j2 was removed", "templates: y.j2 was added"]
    assert compare(loaded.model_copy(update={"versions": {"prefect": "0.0.1"}}))[-1].startswith(
        "version: prefect 0.0.1 then")
