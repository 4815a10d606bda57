"""A throwaway PostgreSQL server (Debian's package) on a temporary data directory and a free port.

Tests and benchmarks start one per session: ``initdb`` (0.5 s) and ``pg_ctl start`` (0.1 s),
listening on 127.0.0.1 and a socket in the data directory only. When the machine lacks the
server, :func:`ensure_installed` installs Debian's ``postgresql`` package (CI runs as root).
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user.

>>> with PostgresServer() as pg:                              # doctest: +SKIP
...     url = pg.create_database("prefect")                   # postgresql+asyncpg://...
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "nornflow"
PASSWORD = "nornflow-test"  # a throwaway server on loopback


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def ensure_installed() -> Path:
    """The directory of ``initdb``/``pg_ctl``, installing Debian's ``postgresql`` if it is missing."""
    bindir = _bindir()
    if bindir is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed and `apt-get install postgresql` did not install it")
    return bindir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server; ``create_database`` gives each user (Prefect, Nautobot) its own database."""

    def __init__(self, directory: str | Path | None = None, port: int | None = None) -> None:
        self.bindir = ensure_installed()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nornflow-pg-")
            directory = self._tmp.name
        self.root = Path(directory)
        self.root.mkdir(parents=True, exist_ok=True)  # every folder above it must let postgres pass
        self.data = self.root / "data"
        self.port = port or free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            self._as_postgres = [runuser, "-u", "postgres", "--"]
            os.chmod(self.root, 0o755)  # the postgres user must reach its data directory
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD, encoding="utf-8")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "server.log"), "-w", "-t", "60", "start")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        done = subprocess.run([str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                               "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                              check=True, capture_output=True, text=True, env=env)
        return done.stdout

    def create_database(self, name: str, driver: str = "postgresql+asyncpg") -> str:
        """A new, empty database; its URL for ``driver`` (SQLAlchemy style)."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name, driver)

    def url(self, name: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.data.exists():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = subprocess.run([*self._as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                                       "-m", "immediate", "-w", "stop"], capture_output=True, text=True)
                if done.returncode == 0 or "not running" in done.stderr + done.stdout:
                    break
                time.sleep(0.2)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
