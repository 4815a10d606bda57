"""Prefect's test harness on a database of our choice (PostgreSQL in this suite).

``prefect.testing.utilities.prefect_test_harness`` always runs its server on a new SQLite
file: it sets ``PREFECT_SERVER_DATABASE_CONNECTION_URL`` to ``sqlite+aiosqlite:///<tmp>``
through ``temporary_settings`` and hands every setting to the server subprocess as
environment variables, and that name comes first in the setting's aliases, so an exported
``PREFECT_API_DATABASE_CONNECTION_URL`` loses. :func:`prefect_harness` is the same harness
with the URL as an argument. SQLite turns concurrent writes into "database is locked" 503s
that the client retries after 2, 4... s (DESIGN.md, "Measured here").
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator

import prefect.context
import prefect.settings
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.server.api.server import SubprocessASGIServer
from prefect.server.database.dependencies import temporary_database_interface
from prefect.utilities.asyncutils import run_coro_as_sync

from tests.support.stack import free_port


@contextlib.contextmanager
def prefect_harness(database_url: str, startup_timeout: int = 180) -> Iterator[str]:
    """A Prefect API server subprocess on ``database_url``; yields its API URL.

    Mirrors ``prefect_test_harness`` (Prefect 3.9): the settings point this process at the
    server, and the server is registered as the default ephemeral one so nothing Prefect
    runs starts a second, unmanaged server (PrefectHQ/prefect#21544).
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(temporary_database_interface())
        stack.enter_context(prefect.settings.temporary_settings(
            updates={prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL: database_url},
        ))
        server = SubprocessASGIServer(port=free_port())
        prior = SubprocessASGIServer._instances.get(None)
        SubprocessASGIServer._instances[None] = server
        try:
            server.start(timeout=startup_timeout)
            stack.enter_context(prefect.settings.temporary_settings(
                updates={prefect.settings.PREFECT_API_URL: server.api_url},
            ))
            # Code running in a context copied before the harness started must see it too.
            stack.enter_context(prefect.context._temporary_global_settings_context(
                prefect.context.get_settings_context()
            ))
            yield server.api_url
            run_coro_as_sync(_drain())
        finally:
            server.stop()
            if prior is not None:
                SubprocessASGIServer._instances[None] = prior
            else:
                SubprocessASGIServer._instances.pop(None, None)


async def _drain() -> None:
    """Send the logs and events still queued before the server goes away."""
    with contextlib.suppress(RuntimeError):  # the log worker never started
        drained = APILogWorker.instance().drain()
        if inspect.isawaitable(drained):
            await drained
    drained = EventsWorker.drain_all()
    if inspect.isawaitable(drained):
        await drained
