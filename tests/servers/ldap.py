"""A real OpenLDAP server (Debian's ``slapd``) for the directory tests: its own config and database in a
temporary directory, TLS from a throwaway CA, on two free loopback ports (LDAPS, and plain LDAP that
only StartTLS makes usable: ``security tls=1``), no anonymous bind, seeded people and groups.

>>> with LdapServer() as ldap:                                  # doctest: +SKIP
...     ldap.ldaps_url, ldap.ldap_url, ldap.ca_file
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import ldap3

from tests.servers.process import stop_process
from tests.servers.tls import make_ca_and_server_cert

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
BASE = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "admin-test-password"  # a throwaway server on loopback
SERVICE_DN = f"cn=nornflow,ou=services,{BASE}"
SERVICE_PASSWORD = "service-test-password"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
#: uid -> (password, groups): seeded people (test values only)
USERS = {
    "lena": ("lena-test-password", ["netops-admins", "netops"]),
    "mark": ("mark-test-password", ["netops"]),
    "nils": ("nils-test-password", []),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed() -> str:
    entries = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: nornflow\n"
        f"userPassword: {SERVICE_PASSWORD}",
    ]
    for uid, (password, _) in USERS.items():
        entries.append(f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid.title()}\n"
                       f"sn: {uid.title()}\nmail: {uid}@example.com\nuserPassword: {password}")
    groups = sorted({g for _, gs in USERS.values() for g in gs})
    for group in groups:
        members = "".join(f"\nmember: uid={uid},{PEOPLE}" for uid, (_, gs) in USERS.items() if group in gs)
        # groupOfNames needs one member: a placeholder DN, so a group can lose every person.
        entries.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n"
                       f"member: cn=placeholder,{BASE}{members}")
    return "\n\n".join(entries) + "\n"


@dataclass
class LdapServer:
    """One slapd; ``ldaps_url`` (TLS from the first byte) and ``ldap_url`` (StartTLS required)."""

    ldaps_port: int = 0
    ldap_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nornflow-ldap-")))

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ldap_url(self) -> str:
        return f"ldap://127.0.0.1:{self.ldap_port}"

    @property
    def ca_file(self) -> Path:
        return self._dir / "tls" / "ca.pem"

    def _config(self) -> Path:
        d = self._dir
        schema = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in ("core", "cosine", "inetorgperson", "nis"))
        conf = d / "slapd.conf"
        conf.write_text(f"""{schema}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {d}/tls/ca.pem
TLSCertificateFile {d}/tls/server.pem
TLSCertificateKeyFile {d}/tls/server-key.pem
# Nothing but StartTLS itself without TLS; no anonymous bind; no bind with a DN and no password.
security tls=1
disallow bind_anon
require bind
database mdb
maxsize 10485760
suffix "{BASE}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {d}/data
access to attrs=userPassword by anonymous auth by self auth by * none
access to * by dn.exact="{SERVICE_DN}" read by users read by * none
""")
        return conf

    def start(self, timeout: float = 15) -> LdapServer:
        for tool in (SLAPD, SLAPADD):
            if not tool.exists():
                raise RuntimeError(f"{tool} is missing: the directory tests run Debian's slapd "
                                   "(`make test` installs it; or: apt-get install slapd ldap-utils)")
        make_ca_and_server_cert(self._dir / "tls")
        (self._dir / "data").mkdir()
        conf = self._config()
        seed = self._dir / "seed.ldif"
        seed.write_text(_seed())
        subprocess.run([str(SLAPADD), "-f", str(conf), "-l", str(seed)], check=True, capture_output=True, timeout=30)
        self.ldaps_port, self.ldap_port = _free_port(), _free_port()
        urls = f"{self.ldaps_url}/ {self.ldap_url}/"
        log = (self._dir / "slapd.log").open("wb")
        # -d 0: stay in the foreground (a child this process can stop), logging nothing but errors.
        self.process = subprocess.Popen([str(SLAPD), "-f", str(conf), "-h", urls, "-d", "0"],
                                        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "LANG": "C"})
        deadline = time.monotonic() + timeout
        context = ssl.create_default_context(cafile=str(self.ca_file))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited ({self.process.returncode}): {self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.ldaps_port), timeout=1) as raw, \
                        context.wrap_socket(raw, server_hostname="127.0.0.1"):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd did not answer within {timeout} s: {self.log_text()}")

    def admin(self) -> ldap3.Connection:
        """An ldap3 connection bound as the directory's admin over LDAPS (to change people and groups)."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        server = ldap3.Server("127.0.0.1", port=self.ldaps_port, use_ssl=True, tls=tls, get_info=ldap3.NONE)
        return ldap3.Connection(server, user=ADMIN_DN, password=ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True)

    def remove_from_group(self, uid: str, group: str) -> None:
        with self.admin() as conn:
            conn.modify(f"cn={group},{GROUPS}", {"member": [(ldap3.MODIFY_DELETE, [f"uid={uid},{PEOPLE}"])]})  # type: ignore[no-untyped-call]

    def add_to_group(self, uid: str, group: str) -> None:
        with self.admin() as conn:
            conn.modify(f"cn={group},{GROUPS}", {"member": [(ldap3.MODIFY_ADD, [f"uid={uid},{PEOPLE}"])]})  # type: ignore[no-untyped-call]

    def log_text(self) -> str:
        path = self._dir / "slapd.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LdapServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
