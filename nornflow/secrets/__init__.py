"""Secret references in inventories and parameters, resolved at run time through Prefect blocks.

Syntax (one for every backend; see :mod:`nornflow.secrets.reference`)::

    secret:<block-type-slug>/<block-name>[:<path>][?version=<version>][#<key>]
    secret:nornflow-vault/prod:network/core#password || secret:secret/lab-password

What the engine calls: :func:`resolve_inventory` once per run, and on an authentication
failure :func:`refresh_host_credentials` (or :func:`references_for_host` plus
:meth:`Resolver.refresh`) before retrying the host once.
"""

from __future__ import annotations

from nornflow.secrets.backends import GROUP, BackendRegistry, SecretBackend, SecretSource
from nornflow.secrets.credentials import (
    REFS_KEY,
    references_for_host,
    refresh_host_credentials,
    resolve_inventory,
)
from nornflow.secrets.reference import SYNTAX, Location, SecretRef, is_reference, parse, parse_chain
from nornflow.secrets.resolver import Resolver

__all__ = [
    "GROUP",
    "REFS_KEY",
    "SYNTAX",
    "BackendRegistry",
    "Location",
    "Resolver",
    "SecretBackend",
    "SecretRef",
    "SecretSource",
    "is_reference",
    "parse",
    "parse_chain",
    "references_for_host",
    "refresh_host_credentials",
    "resolve_inventory",
]
