"""A real OpenID provider for the tests: panva's ``oidc-provider`` (OpenID Certified), run with node.

``ensure_installed`` runs ``npm ci`` once from the committed package-lock.json into
``.tools/oidc-provider/<hash of the lock>`` (a file lock makes parallel xdist workers install
once); ``OidcProvider`` starts ``provider.mjs`` there on a free loopback port with the given
clients and people. People live in a JSON file the provider reads on every lookup, so a test
changes someone's groups, or removes them, with :meth:`OidcProvider.set_user`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers.process import stop_process

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
NODE = Path(os.environ.get("NORNFLOW_NODE", "/usr/bin/node"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_installed() -> Path:
    """The directory holding node_modules/oidc-provider and provider.mjs, installed once per lock file."""
    if not NODE.exists():
        raise RuntimeError(f"{NODE} is missing: the OpenID provider tests run it (Debian: apt-get install nodejs)")
    lock_text = (HERE / "package-lock.json").read_bytes()
    target = REPO / ".tools" / "oidc-provider" / hashlib.sha256(lock_text).hexdigest()[:16]
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "node_modules" / "oidc-provider" / "package.json").is_file():
            target.mkdir(exist_ok=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(HERE / name, target / name)
            npm = shutil.which("npm") or "/usr/bin/npm"
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                           cwd=target, check=True, timeout=300)
        shutil.copy2(HERE / "provider.mjs", target / "provider.mjs")  # ESM resolves imports beside the script
    return target


@dataclass
class OidcProvider:
    """One running provider; ``issuer`` is its URL, ``users`` the people it knows (password included)."""

    clients: list[dict[str, Any]]
    users: list[dict[str, Any]]
    issuer: str = ""
    process: subprocess.Popen[bytes] | None = None
    _dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nornflow-oidc-")))

    def start(self, timeout: float = 30) -> OidcProvider:
        home = ensure_installed()
        port = free_port()
        self.issuer = f"http://127.0.0.1:{port}"
        self._write_users()
        config = self._dir / "config.json"
        config.write_text(json.dumps({"port": port, "issuer": self.issuer, "usersFile": str(self._dir / "users.json"),
                                      "clients": self.clients}))
        log = (self._dir / "provider.log").open("wb")
        self.process = subprocess.Popen([str(NODE), str(home / "provider.mjs"), str(config)], cwd=home,
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited ({self.process.returncode}): {self.log_text()}")
            try:
                if httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the OpenID provider did not answer within {timeout} s: {self.log_text()}")

    def _write_users(self) -> None:
        path = self._dir / "users.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.users))
        tmp.replace(path)

    def set_user(self, username: str, **changes: Any) -> None:
        """Change a person's fields (``groups=[...]``); ``removed=True`` takes them out of the provider."""
        if changes.pop("removed", False):
            self.users = [u for u in self.users if u["username"] != username]
        else:
            self.users = [{**u, **changes} if u["username"] == username else u for u in self.users]
        self._write_users()

    def log_text(self) -> str:
        path = self._dir / "provider.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process, timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
