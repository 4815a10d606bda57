"""The exceptions an inventory source raises; all are :class:`~nornflow.exceptions.InventoryError`.

Whole-run problems (the server is down, the token is refused, the query is rejected) raise
before any host runs. A problem with one device never fails a load: the device becomes an
:class:`~nornflow.inventory.sources.loader.UnusableHost`, whose first session raises :class:`UnusableDevice`
with the reason, so that host fails alone.
"""

from __future__ import annotations

from nornflow.exceptions import InventoryError


class SourceError(InventoryError):
    """A source of truth could not be read, or its description in the inventory file is wrong."""


class SourceUnavailable(SourceError, ConnectionError):
    """The server did not answer, or answered with a server error."""


class SourceAccessDenied(SourceError, PermissionError):
    """The server refused the API token (HTTP 401/403)."""


class UnusableDevice(SourceError):
    """One device lacks what a session needs (address, platform, credential references)."""
