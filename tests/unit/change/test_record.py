"""Run records without Prefect: hashes per file, secret references by name, replay's comparison."""

from __future__ import annotations

from nornflow.change.record import RunRecord, secret_references, source, versions
from nornflow.change.replay import compare, load_record
from nornflow.secrets.redaction import clear, register


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


def _git(repo, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_and_dirty_state_are_read_from_the_repository_files(tmp_path):
    from nornflow.change.record import checkout

    inventory = tmp_path / "inv"
    inventory.mkdir()
    (inventory / "hosts.yaml").write_text("r1: {hostname: 127.0.0.1}\n")
    (tmp_path / "flow.py").write_text("# a flow\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    clean = source(inventory)
    assert (clean.git_commit, clean.git_dirty) == (head, False)
    _git(tmp_path, "pack-refs", "--all")  # the branch now lives in packed-refs only
    assert source(inventory).git_commit == head
    (inventory / "hosts.yaml").write_text("r1: {hostname: 127.0.0.2}\n")
    assert source(inventory).git_dirty is True
    _git(tmp_path, "checkout", "-q", "--", ".")
    (inventory / "groups.yaml").write_text("{}\n")
    assert source(inventory).git_dirty is True, "an untracked inventory file is a change too"
    (inventory / "groups.yaml").unlink()
    assert checkout(tmp_path / "flow.py", fresh=True).model_dump() == {
        "path": str(tmp_path.resolve()), "scope": "", "git_commit": head, "dirty": False, "modified": []}
    (tmp_path / "flow.py").write_text("# a flow, edited\n")
    edited = checkout(tmp_path / "flow.py", fresh=True)
    assert edited.dirty is True and edited.modified == ["flow.py"]


def test_inventory_references_come_from_hosts_groups_defaults_and_data(tmp_path):
    from nornflow.change.record import inventory_record, references_in

    (tmp_path / "hosts.yaml").write_text(
        "r1: {hostname: 127.0.0.1, password: 'secret:nornflow-vault/prod:net/r1#password', groups: [fra]}\n"
        "r2: {hostname: 127.0.0.1, data: {snmp: 'secret:nornflow-aws-secrets-manager/main:snmp#community'}}\n")
    (tmp_path / "groups.yaml").write_text("fra: {data: {site: fra, tacacs: 'secret:secret/fra-tacacs'}}\n")
    (tmp_path / "defaults.yaml").write_text(
        "username: admin\npassword: 'secret:secret/lab#password || secret:secret/lab-old#password'\n"
        "connection_options: {scrapli: {extras: {auth_secondary: 'secret:secret/lab#enable'}}}\n"
        "data: {note: 'not secret:a reference'}\n")
    found, refs = inventory_record(tmp_path)
    assert refs == ["secret:nornflow-aws-secrets-manager/main:snmp#community",
                    "secret:nornflow-vault/prod:net/r1#password", "secret:secret/fra-tacacs",
                    "secret:secret/lab#enable", "secret:secret/lab#password", "secret:secret/lab-old#password"]
    assert sorted(found.files) == ["defaults.yaml", "groups.yaml", "hosts.yaml"]
    assert references_in({"params": ["secret:secret/x#k", "plain"], "bad": "secret:BAD"}) == {"secret:secret/x#k"}


def test_a_source_inventory_is_hashed_per_device_as_loaded_with_references_not_values():
    from nornflow.change.record import loaded_inventory
    from nornflow.inventory.sources import load_source
    from nornflow.secrets import resolve_inventory
    from tests.unit.sources.fakes import TOKEN, FakeApi, nautobot_device, resolver, spec

    devices = [nautobot_device("fra-spine-01"), nautobot_device("fra-leaf-02", role="leaf", custom={
        "nornflow_credentials": {"username": "ops", "password": "secret:mem/main:leaf02#password"}})]
    secrets = resolver(lab={"username": "admin", "password": "Lab-canary-771"},
                       leaf02={"password": "Leaf-canary-772"})
    nr = load_source(spec(), resolver=secrets, transport=FakeApi(devices).transport)
    first, refs = loaded_inventory(nr, "nautobot.yaml")
    assert first.kind == "source" and sorted(first.files) == ["defaults", "host:fra-leaf-02", "host:fra-spine-01"]
    assert refs == ["secret:mem/main:lab#password", "secret:mem/main:lab#username", "secret:mem/main:leaf02#password",
                    "secret:mem/main:nautobot#token"]
    clear()
    try:
        assert resolve_inventory(nr.inventory, secrets) == {}  # what a run does to the loaded hosts, in place
        assert nr.inventory.hosts["fra-leaf-02"].password == "Leaf-canary-772"
        resolved, again = loaded_inventory(nr, "nautobot.yaml")
    finally:
        clear()
    assert (resolved.hash, again) == (first.hash, refs), "a resolved inventory hashes as its references"
    assert all(value not in resolved.model_dump_json() + str(again) for value in ("Lab-canary-771", "Leaf-canary-772",
                                                                                 TOKEN))
    devices[1] = nautobot_device("fra-leaf-02", role="spine", custom=devices[1]["custom_fields"])
    moved, _ = loaded_inventory(load_source(spec(), resolver=secrets, transport=FakeApi(devices).transport), "x")
    assert {k for k in first.files if first.files[k] != moved.files[k]} == {"host:fra-leaf-02"}


def test_build_record_keeps_no_registered_secret_from_the_parameters(tmp_path):
    from nornflow.change.record import build_record

    (tmp_path / "hosts.yaml").write_text("r1: {hostname: 127.0.0.1, password: 'secret:secret/lab#password'}\n")
    clear()
    register("Param-canary-5521")
    try:
        record = build_record("show_commands", inventory=tmp_path, parameters={
            "inventory": str(tmp_path), "password": "Param-canary-5521", "notes": ["x Param-canary-5521 y"],
            "token": "secret:secret/api#token"})
        texts = (record.to_json(), record.markdown(), record.model_dump_json())
    finally:
        clear()
    assert all("Param-canary-5521" not in text for text in texts)
    assert record.parameters["password"] == "***" and record.secret_references == [
        "secret:secret/api#token", "secret:secret/lab#password"]


def test_replay_reports_a_changed_flow_source_and_a_dirty_checkout(tmp_path):
    from prefect.utilities.hashing import file_hash

    from nornflow.change.record import checkout

    flow_file = tmp_path / "flows" / "mine.py"
    flow_file.parent.mkdir()
    flow_file.write_text("def mine(): ...\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "one")
    record = RunRecord(flow="mine", flow_run_id="r", flow_version=file_hash(str(flow_file)),
                       flow_source=str(flow_file), checkout=checkout(flow_file, fresh=True), versions=versions())
    assert compare(record) == [] and record.checkout.scope == "flows/"
    (tmp_path / "notes.txt").write_text("edited, outside the flow's package\n")
    assert compare(record) == []
    flow_file.write_text("def mine(): return 1\n")
    differences = compare(record)
    assert differences[0].startswith(f"flow_version: {record.flow_version} then, {file_hash(str(flow_file))} now")
    assert differences[1:] == ["checkout: uncommitted changes now: flows/mine.py"]
    _git(tmp_path, "commit", "-qam", "two")
    differences = compare(record.model_copy(update={"checkout": record.checkout.model_copy(
        update={"dirty": True, "modified": ["flows/mine.py"]})}))
    assert differences[1].startswith(f"checkout: {tmp_path.resolve() / 'flows'} had uncommitted changes when the "
                                     f"run ran (flows/mine.py)") and differences[2].startswith("checkout: commit ")
