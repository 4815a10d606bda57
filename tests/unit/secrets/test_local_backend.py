"""The nornflow-local backend: real files, real age encryption, the CLI as a subprocess.

References resolve through the real :class:`Resolver`, with the block instance handed to it
as the backend (no Prefect API here; tests/integration/secrets/test_secrets_local.py saves
the block to the Prefect test server).
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest

from nornflow.blocks.local import LocalAgeSecrets
from nornflow.cli import main
from nornflow.exceptions import SecretAccessDenied, SecretBackendNotInstalled, SecretError, SecretNotFound
from nornflow.secrets import Resolver, redaction

VALUE = "Lq7-local-canary-5521"
OTHER = "Vx2-second-canary-0934"


def cli(home: Path, key_file: Path, *argv: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_AGE")}
    base.update(HOME=str(home), NORNFLOW_AGE_KEY_FILE=str(key_file), **(env or {}))
    return subprocess.run([sys.executable, "-m", "nornflow.cli", "secrets", *argv], input=stdin,
                          capture_output=True, text=True, env=base, timeout=120, check=False)


class Loader:
    """The backend the resolver asks for: ``load(name)`` gives the block instance."""

    def __init__(self, block: LocalAgeSecrets) -> None:
        self.block = block

    def load(self, name: str) -> LocalAgeSecrets:
        return self.block


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A repository with secrets/, a key outside it, lab.age holding two values (set in-process)."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / ".git").mkdir(parents=True)
    home.mkdir()
    key = home / ".config" / "nornflow" / "age.key"
    secrets = repo / "secrets"
    monkeypatch.delenv("NORNFLOW_AGE_KEY", raising=False)
    monkeypatch.setenv("NORNFLOW_AGE_KEY_FILE", str(key))
    monkeypatch.setenv("HOME", str(home))
    assert main(["secrets", "keygen", "--dir", str(secrets)]) == 0
    for path, value in (("network.core.password", VALUE), ("network.core.username", "netops")):
        monkeypatch.setattr(sys, "stdin", io.StringIO(value + "\n"))
        assert main(["secrets", "set", "--dir", str(secrets), "lab", path, "-"]) == 0
    return {"repo": repo, "home": home, "key": key, "dir": secrets, "file": secrets / "lab.age"}


def resolver(directory: Path) -> Resolver:
    return Resolver(backends={"nornflow-local": Loader(LocalAgeSecrets(directory=str(directory)))}, backoff=0)


def test_keygen_writes_a_private_identity_and_prints_its_public_key(store: dict[str, Path]) -> None:
    key = store["key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    identity = pyrage.x25519.Identity.from_str(key.read_text().splitlines()[-1])
    again = cli(store["home"], key, "keygen", "--dir", str(store["dir"]))
    assert again.returncode == 2 and "exists" in again.stderr
    assert str(identity.to_public()) in key.read_text()


def test_set_and_get_through_the_cli(store: dict[str, Path]) -> None:
    done = cli(store["home"], store["key"], "set", "--dir", str(store["dir"]), "lab", "network.edge.password", "-",
               stdin=OTHER + "\n")
    assert done.returncode == 0, done.stderr
    assert OTHER not in done.stdout + done.stderr
    edge = cli(store["home"], store["key"], "get", "--dir", str(store["dir"]), "lab", "network.edge.password")
    assert edge.stdout == OTHER + "\n"
    got = cli(store["home"], store["key"], "get", "--dir", str(store["dir"]), "lab.age", "network.core.password")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == VALUE
    raw = store["file"].read_bytes()
    assert raw.startswith(b"age-encryption.org/v1") and VALUE.encode() not in raw
    assert sorted(p.name for p in store["dir"].iterdir()) == ["lab.age"]  # no temp file left


def test_references_resolve_through_the_resolver(store: dict[str, Path]) -> None:
    r = resolver(store["dir"])
    assert r.resolve("secret:nornflow-local/repo:lab:network.core#password") == VALUE
    assert r.resolve("secret:nornflow-local/repo:lab.age:network.core.username") == "netops"
    assert VALUE in set(redaction.registered())
    with pytest.raises(SecretNotFound, match=r"no key 'pin' in the secret \(keys: password, username\)"):
        r.resolve("secret:nornflow-local/repo:lab:network.core#pin")
    with pytest.raises(SecretNotFound, match="no 'edge' under network"):
        r.resolve("secret:nornflow-local/repo:lab:network.edge#password")
    with pytest.raises(SecretNotFound, match="no secrets file"):
        r.resolve("secret:nornflow-local/repo:nope:a#b")
    with pytest.raises(SecretNotFound, match="outside"):
        r.resolve("secret:nornflow-local/repo:../escape:a#b")
    with pytest.raises(SecretError, match="no versions"):
        r.resolve("secret:nornflow-local/repo:lab:network.core?version=2#password")


def test_wrong_key_is_a_clear_error_and_changes_nothing(store: dict[str, Path], tmp_path: Path) -> None:
    before = store["file"].read_bytes()
    wrong = tmp_path / "wrong.key"
    wrong.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    for argv in (("set", "lab", "network.core.password", "-"), ("get", "lab", "network.core.password")):
        out = cli(store["home"], wrong, argv[0], "--dir", str(store["dir"]), *argv[1:], stdin=OTHER)
        assert out.returncode == 2
        assert f"cannot decrypt {store['file']}" in out.stderr and "re-encrypt" in out.stderr
        assert VALUE not in out.stdout + out.stderr and OTHER not in out.stdout + out.stderr
    assert store["file"].read_bytes() == before
    os.environ["NORNFLOW_AGE_KEY_FILE"] = str(wrong)
    with pytest.raises(SecretAccessDenied, match="cannot decrypt") as caught:
        resolver(store["dir"]).resolve("secret:nornflow-local/repo:lab:network.core#password")
    assert VALUE not in str(caught.value) and VALUE not in repr(caught.value)


def test_missing_key_names_the_three_places(store: dict[str, Path]) -> None:
    os.environ["NORNFLOW_AGE_KEY_FILE"] = str(store["home"] / "absent.key")
    with pytest.raises(SecretAccessDenied) as caught:
        resolver(store["dir"]).resolve("secret:nornflow-local/repo:lab:network.core#password")
    text = str(caught.value)
    assert "$NORNFLOW_AGE_KEY," in text and "absent.key ($NORNFLOW_AGE_KEY_FILE)" in text and "keyring" in text


def test_key_from_the_environment_and_never_beside_the_data(store: dict[str, Path]) -> None:
    identity = store["key"].read_text()
    os.environ["NORNFLOW_AGE_KEY"] = identity
    os.environ["NORNFLOW_AGE_KEY_FILE"] = str(store["home"] / "absent.key")
    assert resolver(store["dir"]).resolve("secret:nornflow-local/repo:lab:network.core#password") == VALUE
    del os.environ["NORNFLOW_AGE_KEY"]
    for inside in (store["dir"] / "age.key", store["repo"] / "keys" / "age.key"):
        inside.parent.mkdir(exist_ok=True)
        inside.write_text(identity)
        os.environ["NORNFLOW_AGE_KEY_FILE"] = str(inside)
        with pytest.raises(SecretAccessDenied, match="next to the encrypted data: move it out"):
            resolver(store["dir"]).resolve("secret:nornflow-local/repo:lab:network.core#password")
        inside.unlink()


def test_rotation_keeps_every_secret_readable_with_the_new_key_only(store: dict[str, Path]) -> None:
    home, key, d = store["home"], store["key"], str(store["dir"])
    assert cli(home, key, "set", "--dir", d, "dc2", "bgp.md5", "-", stdin=OTHER).returncode == 0
    new = store["home"] / "new.key"
    assert cli(home, new, "keygen", "--dir", d).returncode == 0
    out = cli(home, key, "rotate-key", "--dir", d, "--new-key-file", str(new))
    assert out.returncode == 0, out.stderr
    assert "re-encrypted 2 file(s)" in out.stdout
    assert cli(home, new, "get", "--dir", d, "lab", "network.core.password").stdout.strip() == VALUE
    assert cli(home, new, "get", "--dir", d, "dc2", "bgp.md5").stdout.strip() == OTHER
    for name, path in (("lab", "network.core.password"), ("dc2", "bgp.md5")):
        old = cli(home, key, "get", "--dir", d, name, path)
        assert old.returncode == 2 and "cannot decrypt" in old.stderr
    assert sorted(p.name for p in store["dir"].iterdir()) == ["dc2.age", "lab.age"]


def test_interrupted_rotation_leaves_every_file_as_it_was(store: dict[str, Path]) -> None:
    home, key, d = store["home"], store["key"], str(store["dir"])
    for name in ("a", "z"):
        assert cli(home, key, "set", "--dir", d, name, "x.y", "-", stdin=OTHER).returncode == 0
    (store["dir"] / "m.age").write_bytes(b"age-encryption.org/v1\n-> damaged mid-way\n")  # sorted between
    before = {p.name: p.read_bytes() for p in store["dir"].iterdir()}
    new = store["home"] / "new.key"
    assert cli(home, new, "keygen", "--dir", d).returncode == 0
    out = cli(home, key, "rotate-key", "--dir", d, "--new-key-file", str(new))
    assert out.returncode == 2 and "m.age" in out.stderr
    assert {p.name: p.read_bytes() for p in store["dir"].iterdir()} == before
    assert cli(home, key, "get", "--dir", d, "z", "x.y").stdout.strip() == OTHER


def test_edit_uses_a_private_temp_file_and_removes_it(store: dict[str, Path], tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import os, stat, sys\n"
        "p = sys.argv[1]\n"
        f"open({str(seen)!r}, 'w').write(p + ' ' + oct(stat.S_IMODE(os.stat(p).st_mode)))\n"
        "text = open(p).read().replace('netops', 'netops2')\n"
        "open(p, 'w').write(text)\n"
    )
    out = cli(store["home"], store["key"], "edit", "--dir", str(store["dir"]), "lab",
              env={"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""})
    assert out.returncode == 0, out.stderr
    temp, mode = seen.read_text().split()
    assert mode == "0o600" and not Path(temp).exists()
    r = resolver(store["dir"])
    assert r.resolve("secret:nornflow-local/repo:lab:network.core#username") == "netops2"
    assert r.resolve("secret:nornflow-local/repo:lab:network.core#password") == VALUE


def test_health_check(store: dict[str, Path]) -> None:
    public = store["key"].read_text().split("# public key: ")[1].split()[0]
    assert "1 age file(s) decrypt" in LocalAgeSecrets(directory=str(store["dir"]), recipients=[public]).health_check()
    other = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(SecretAccessDenied, match="not among the block's recipients"):
        LocalAgeSecrets(directory=str(store["dir"]), recipients=[other]).health_check()


def test_nothing_leaks(store: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    block = LocalAgeSecrets(directory=str(store["dir"]))
    r = Resolver(backends={"nornflow-local": Loader(block)})
    with caplog.at_level("DEBUG"):
        assert r.resolve("secret:nornflow-local/repo:lab:network.core#password") == VALUE
        with pytest.raises(SecretNotFound) as caught:
            r.resolve("secret:nornflow-local/repo:lab:network#core")
    texts = [repr(block), str(block), repr(r), str(caught.value), repr(caught.value), caplog.text,
             redaction.redact_text(f"login with {VALUE}")]
    for path in store["repo"].rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode(errors="replace"))
    for text in texts:
        assert VALUE not in text


def test_missing_pyrage_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyrage", None)  # what an install without the extra looks like
    monkeypatch.delitem(sys.modules, "nornflow.secrets.local", raising=False)
    with pytest.raises(SecretBackendNotInstalled, match=r"pip install 'nornflow-netops\[local\]'"):
        LocalAgeSecrets().read_secret("lab:a")
