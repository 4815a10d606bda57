"""A device session on the async path (scrapli's ``AsyncScrapli`` over asyncssh), the SSH way NornFlow means.

scrapli's asyncssh transport calls ``asyncssh.connect`` itself and merges
``transport_options["asyncssh"]`` into its arguments last; everything here goes in that way:
today's algorithms (older ones by opt-in), the inventory's known-hosts file (scrapli's own check
matches the host name without the port and is turned off), a key imported from a secret's text, and
``tunnel=`` the shared bastion connection. Options a user set under ``transport_options.asyncssh``
in the inventory still win. What asyncssh raises comes back as a clear
:class:`~nornflow.ssh.errors.SSHError` (:meth:`AsyncPlan.explain`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from nornflow.ssh import algorithms, hostkeys
from nornflow.ssh.jump import ASYNC_BASTIONS, _Presented, refused_forward
from nornflow.ssh.keys import asyncssh_key
from nornflow.ssh.settings import SSHSettings, ssh_settings

if TYPE_CHECKING:
    from nornir.core.inventory import Host


class AsyncPlan:
    """The asyncssh side of one host's session: its options, and how to explain its failures."""

    def __init__(self, host: Host, kwargs: dict[str, Any], settings: SSHSettings) -> None:
        self.host, self.kwargs, self.settings = host, kwargs, settings
        self.presented = _Presented()
        self.address = (str(kwargs["host"]), int(kwargs.get("port") or 22))

    def options(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {
            **algorithms.asyncssh_options(s.legacy_algorithms),
            "known_hosts": hostkeys.load(s.known_hosts) if s.verify_host_keys and s.known_hosts else None,
            "client_factory": self.presented.factory,
        }
        if s.private_key:
            options["client_keys"] = [asyncssh_key(s.private_key, s.passphrase)]
        return options

    def explain(self, exc: BaseException) -> BaseException:
        """The clear error behind what opening the session raised (``exc`` itself when none is known)."""
        import asyncssh

        host, port = self.address
        if isinstance(exc, asyncssh.HostKeyNotVerifiable) and self.settings.known_hosts is not None:
            return hostkeys.classify(self.host.name, host, port, self.settings.known_hosts, self.presented.key)
        if isinstance(exc, asyncssh.ChannelOpenError) and self.settings.jump_host is not None:
            return refused_forward(self.settings.jump_host, host, port, exc.reason or f"code {exc.code}")
        return algorithms.explain(exc, f"{self.host.name} ({host}:{port})", self.settings.legacy_algorithms) or exc


@contextlib.asynccontextmanager
async def session_options(host: Host, kwargs: dict[str, Any]) -> AsyncIterator[tuple[dict[str, Any], AsyncPlan]]:
    """``AsyncScrapli`` arguments for ``host`` (``kwargs`` from the inventory), held open for one session:
    a session through a jump host holds its share of the bastion connection until the block ends."""
    extras = dict(host.get_connection_parameters("scrapli").extras or {})
    settings = ssh_settings(host, extras)
    plan = AsyncPlan(host, kwargs, settings)
    transport_options = dict(kwargs.get("transport_options") or {})
    options = {**plan.options(), **dict(transport_options.get("asyncssh") or {})}
    timeout = float(kwargs.get("timeout_socket") or 15.0)
    async with contextlib.AsyncExitStack() as stack:
        jump = settings.jump_host
        if jump is not None:
            known = settings.known_hosts if settings.verify_host_keys else None
            options["tunnel"] = await stack.enter_async_context(
                ASYNC_BASTIONS.channel(jump, known_hosts=known, timeout=timeout))
        yield {**kwargs, "auth_strict_key": False,
               "transport_options": {**transport_options, "asyncssh": options}}, plan
