"""The inventory sources' exceptions: one root under InventoryError, children that are also the matching builtins."""

from __future__ import annotations

import nornflow.inventory.sources as sources
from nornflow.exceptions import InventoryError
from nornflow.inventory.sources import exceptions


def test_each_source_exception_is_an_inventory_error_and_its_builtin():
    assert issubclass(exceptions.SourceError, InventoryError)
    assert issubclass(exceptions.SourceUnavailable, ConnectionError)
    assert issubclass(exceptions.SourceAccessDenied, PermissionError)
    for name in ("SourceError", "SourceUnavailable", "SourceAccessDenied", "UnusableDevice"):
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.SourceError)
        assert getattr(sources, name) is cls  # the public names stay importable from nornflow.inventory.sources
