"""A real OpenSSH server (Debian's ``openssh-server``) on a loopback port: the jump host of the SSH tests.

``sshd -D -e -f CONF`` with a configuration of its own: its own host key, its own
``authorized_keys``, public-key login only (no PAM, no passwords), TCP forwarding allowed, and a
``Match User`` block that refuses forwarding to a second account (the bastion that refuses).
As root (CI) sshd needs its privilege-separation directory ``/run/sshd``, which the Debian service
would create; it is created here the same way. Started once per session (about 0.1 s).

>>> with SSHServer() as bastion:                          # doctest: +SKIP
...     bastion.port, bastion.user, bastion.private_key  # key text for the inventory (or Vault)
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers.process import stop_process

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "") -> str:
    """Write a new key pair at ``path`` (and ``path.pub``); return the private key's text. Two bcrypt rounds
    for an encrypted key (ssh-keygen's default is 16): a test key, decrypted many times, need not be slow."""
    subprocess.run(["ssh-keygen", "-q", "-a", "2", "-t", kind, "-N", passphrase, "-C", "nornflow-test",
                    "-f", str(path)], check=True)
    return path.read_text()


class SSHServer:
    """One sshd; ``private_key`` logs in as ``user`` (forwarding allowed); ``refused_key`` logs in as
    the same user but its ``authorized_keys`` line forbids forwarding (``restrict``)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        if shutil.which(SSHD) is None and not Path(SSHD).exists():
            raise RuntimeError("sshd is not installed: apt-get install openssh-server (the Makefile does)")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nornflow-sshd-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.port = free_port()
        self.user = getpass.getuser()
        self.process: subprocess.Popen[bytes] | None = None
        self.private_key = ""
        self.refused_key = ""
        self.encrypted_key = ""
        self.passphrase = "correct horse battery staple"

    def _configure(self) -> Path:
        d = self.directory
        d.chmod(0o700)
        keygen(d / "host_ed25519")
        self.private_key = keygen(d / "client")
        self.refused_key = keygen(d / "client_refused")
        self.encrypted_key = keygen(d / "client_encrypted", "rsa", self.passphrase)
        allowed = (d / "client.pub").read_text().strip()
        encrypted = (d / "client_encrypted.pub").read_text().strip()
        refused = (d / "client_refused.pub").read_text().strip()
        authorized = d / "authorized_keys"
        authorized.write_text(f"{allowed}\n{encrypted}\nrestrict {refused}\n")
        authorized.chmod(0o600)
        config = d / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {d / 'host_ed25519'}",
            f"PidFile {d / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes", "PermitOpen any", "GatewayPorts no", "X11Forwarding no",
            "PermitTTY no", "LogLevel ERROR", "MaxStartups 100:30:200", "MaxSessions 10",
            "Subsystem sftp internal-sftp", "",
        ]))
        return config

    def start(self) -> SSHServer:
        config = self._configure()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # what Debian's sshd service creates
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.directory / "sshd.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.directory / 'sshd.log').read_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} within 10 s")

    @property
    def host_key_line(self) -> str:
        """The known_hosts line of this server's host key."""
        key = (self.directory / "host_ed25519.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}"

    def stop(self) -> None:
        stop_process(self.process, timeout=5)
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SSHServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
