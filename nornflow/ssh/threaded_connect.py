"""A device session on the threaded path (nornir-scrapli), opened the SSH way NornFlow means.

nornir-scrapli builds its ``Scrapli`` driver from the inventory and opens it; it has no place for a
socket from a jump host, a key held in memory, a known-hosts file matched with the port, or a list
of algorithms. So for a host that needs any of these (or whose transport is ``paramiko``, so that it
never offers the older algorithms unasked), :func:`open_session` builds the same driver from the same
inventory fields, swaps its transport for :class:`NornFlowParamikoTransport` (paramiko, as scrapli's
own, with ``open()`` and ``close()`` of its own), and hands it to Nornir as the host's ``scrapli``
connection, opened when a task's ``host.get_connection("scrapli", ...)`` first asks for it
(:class:`DeferredSession`).

A host on the ``system`` transport with a jump host, a key from a secret or the older algorithms
is opened with paramiko too: the system transport forks one ``ssh`` per device, which cannot share
a bastion connection nor take a private key without a file on disk. Without those, a ``system``
host stays with OpenSSH, which checks host keys itself (``StrictHostKeyChecking``, its own
known_hosts and ssh_config). Other transports (telnet, ssh2) are left to nornir-scrapli.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any

from scrapli.transport.plugins.paramiko.transport import ParamikoTransport

from nornflow.ssh import algorithms, hostkeys
from nornflow.ssh.errors import SSHError
from nornflow.ssh.jump import THREAD_BASTIONS
from nornflow.ssh.keys import paramiko_key
from nornflow.ssh.settings import SSHSettings, ssh_settings

if TYPE_CHECKING:
    from nornir.core.configuration import Config
    from nornir.core.inventory import Host

CONNECTION = "scrapli"
_TAKEN = ("paramiko", "system")


class NornFlowParamikoTransport(ParamikoTransport):
    """scrapli's paramiko transport, opened through a jump host, with verified keys and chosen algorithms."""

    nornflow_host: Host
    nornflow_settings: SSHSettings
    nornflow_stack: contextlib.ExitStack

    def _where(self) -> str:
        return f"{self.nornflow_host.name} ({self._base_transport_args.host}:{self._base_transport_args.port})"

    def _sock(self) -> Any:
        args, settings = self._base_transport_args, self.nornflow_settings
        dest = (args.host, args.port)
        if settings.jump_host is not None:
            known = settings.known_hosts if settings.verify_host_keys else None
            return self.nornflow_stack.enter_context(
                THREAD_BASTIONS.channel(settings.jump_host, dest, known_hosts=known, timeout=args.timeout_socket))
        try:
            sock = socket.create_connection(dest, timeout=args.timeout_socket)
        except OSError as exc:
            raise ConnectionRefusedError(f"{self._where()}: {exc.strerror or exc}") from None
        self.nornflow_stack.callback(sock.close)
        return sock

    def open(self) -> None:
        import paramiko

        self._pre_open_closing_log(closing=False)
        self.nornflow_stack = contextlib.ExitStack()
        settings, args = self.nornflow_settings, self._base_transport_args
        try:
            sock = self._sock()
            session = paramiko.Transport(sock, disabled_algorithms=algorithms.paramiko_disabled(
                settings.legacy_algorithms))
            self.nornflow_stack.callback(session.close)
            session.banner_timeout = session.auth_timeout = args.timeout_socket
            try:
                session.start_client(timeout=args.timeout_socket)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                explained = algorithms.explain(exc, self._where(), settings.legacy_algorithms)
                raise (explained or exc) from None
            if settings.verify_host_keys and settings.known_hosts is not None:
                hostkeys.verify(self.nornflow_host.name, args.host, args.port, settings.known_hosts,
                                session.get_remote_server_key())
            self.session = session
            self._login(settings)
            self._open_channel()
        except BaseException:
            self.nornflow_stack.close()
            self.session = None
            raise
        self._post_open_closing_log(closing=False)

    def _login(self, settings: SSHSettings) -> None:
        import paramiko
        from scrapli.exceptions import ScrapliAuthenticationFailed

        assert self.session is not None
        user = self.plugin_transport_args.auth_username
        if settings.private_key:
            with contextlib.suppress(paramiko.AuthenticationException):
                self.session.auth_publickey(user, paramiko_key(settings.private_key, settings.passphrase))
        if not self.session.is_authenticated() and self.plugin_transport_args.auth_password:
            with contextlib.suppress(paramiko.AuthenticationException):
                self.session.auth_password(user, self.plugin_transport_args.auth_password)
        if not self.session.is_authenticated():
            raise ScrapliAuthenticationFailed("all authentication methods failed")

    def close(self) -> None:
        self._pre_open_closing_log(closing=True)
        with contextlib.suppress(Exception):
            if self.session_channel is not None:
                self.session_channel.close()
        stack = getattr(self, "nornflow_stack", None)
        if stack is not None:
            stack.close()
        self.session = None
        self.session_channel = None
        self._post_open_closing_log(closing=True)


def takes_over(host: Host) -> SSHSettings | None:
    """The host's SSH settings when NornFlow opens its session, None when nornir-scrapli does."""
    params = host.get_connection_parameters(CONNECTION)
    extras = dict(params.extras or {})
    transport = str(extras.get("transport", "system"))
    if transport not in _TAKEN:
        return None
    settings = ssh_settings(host, extras)
    if transport == "paramiko":
        return settings
    if settings.jump_host or settings.private_key or settings.legacy_algorithms:
        return settings  # system ssh would need a key file on disk, or a process per bastion hop
    return None  # system ssh verifies host keys itself (StrictHostKeyChecking, OpenSSH's own files)


class DeferredSession:
    """The host's ``scrapli`` entry in ``host.connections`` until a task asks for the connection.

    Nornir's ``host.get_connection("scrapli", ...)`` returns ``host.connections["scrapli"].connection``;
    this entry opens the session there, on first use, so the session is opened where the task opens
    it: after the task's own checks (an unknown platform is refused before any connection), inside
    any limit the task holds (a plan step's resources), and never for a task that does not connect.
    """

    def __init__(self, host: Host, settings: SSHSettings, configuration: Config | None) -> None:
        self.host, self.settings, self.configuration = host, settings, configuration
        self.plugin: Any = None

    @property
    def connection(self) -> Any:
        if self.plugin is None:
            self.plugin = _open(self.host, self.settings, self.configuration)
        return self.plugin.connection

    def close(self) -> None:
        if self.plugin is not None:
            plugin, self.plugin = self.plugin, None
            plugin.close()


def open_session(host: Host, configuration: Config | None) -> bool:
    """Make ``host``'s ``scrapli`` connection open NornFlow's way when a task first asks for it; False
    when the host is left to nornir-scrapli (or its connection is there already)."""
    if CONNECTION in host.connections:
        return False
    settings = takes_over(host)
    if settings is None:
        return False
    host.connections[CONNECTION] = DeferredSession(host, settings, configuration)  # type: ignore[assignment]
    return True


def _open(host: Host, settings: SSHSettings, configuration: Config | None) -> Any:
    """Open ``host``'s scrapli driver through :class:`NornFlowParamikoTransport`; the plugin holding it."""
    from nornir_scrapli.connection import PLATFORM_MAP, ScrapliCore
    from scrapli import Scrapli
    from scrapli.driver import GenericDriver

    params = host.get_connection_parameters(CONNECTION)
    extras = dict(params.extras or {})
    global_config = configuration.dict() if configuration else {}
    parameters: dict[str, Any] = {
        "host": params.hostname, "auth_username": params.username or "", "auth_password": params.password or "",
        "port": params.port or 22, "ssh_config_file": global_config.get("ssh", {}).get("config_file", False),
        **extras, "transport": "paramiko", "auth_strict_key": False, "auth_private_key": "",
    }
    if extras.get("channel_log", False) is True:
        parameters["channel_log"] = f"scrapli_channel_{params.hostname}.log"
    if not params.platform:
        raise SSHError(f"{host.name} has no platform in the inventory; set platform: (ios, eos, junos, nxos...)")
    platform = PLATFORM_MAP.get(params.platform, params.platform)
    conn = GenericDriver(**parameters) if platform == "generic" else Scrapli(**parameters, platform=platform)
    transport = conn.transport
    transport.__class__ = NornFlowParamikoTransport
    assert isinstance(transport, NornFlowParamikoTransport)
    transport.nornflow_host, transport.nornflow_settings = host, settings
    conn.open()
    plugin = ScrapliCore()
    plugin.connection = conn
    return plugin
