"""Checks a command makes before it touches a Prefect server: the inventory, the host filter, the references.

What can be decided from the files alone is decided here, in a fraction of a second, once: a
filter typo is one line on the console instead of a flow run that fails after a server started
(and is reported by the flow engine, the flow run's state and the CLI). Nothing here imports
Prefect or resolves a secret; a reference is checked for its syntax and its backend's slug only.
An inventory read from a source of truth (Nautobot, NetBox) is left to the flow: reading it
needs that server and, often, a secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nornflow.exceptions import SecretReferenceError

_ATTRS = ("username", "password")


def check_run(inventory: str | Path, hosts: dict[str, Any] | None) -> list[str]:
    """The selected host names; raise the InventoryError/HostSelectionError/SecretReferenceError the run would.

    Returns ``[]`` without checking when the inventory is a source of truth (the flow reads it).
    """
    from nornflow.inventory.load import HostFilter, load_nornir
    from nornflow.inventory.sources import source_spec

    if source_spec(inventory) is not None:
        return []
    nr = load_nornir(inventory)
    selected = HostFilter.coerce(hosts).select(nr)
    check_references([nr.inventory.hosts[n] for n in selected], where=str(inventory))
    return selected


def check_plan(file: str | Path, inventory: str | None, *, selections: bool = True) -> None:
    """The plan parses and validates; with ``selections``, every step that touches hosts selects some.

    Which steps touch hosts is decided as ``nornflow plan validate`` does (a ``hosts:`` or a
    ``task:``). The steps' flows are not imported here (importing one imports Prefect, which must
    come after the server is chosen): ``plan run`` checks them next, before anything runs.
    """
    from nornflow.inventory.load import HostFilter, load_nornir
    from nornflow.inventory.sources import source_spec
    from nornflow.plan.model import Plan
    from nornflow.plan.planner import check_selections, validate

    plan = Plan.from_yaml(Path(file))
    if inventory:
        plan.inventory = inventory
    validate(plan, check_flows=False)
    if not selections or not plan.inventory or source_spec(plan.inventory) is not None:
        return
    nr = load_nornir(plan.inventory)
    check_selections(
        plan, lambda sel: HostFilter.coerce(sel.as_filter() if sel else None).select(nr),
        only=[s.name for s in plan.steps if s.hosts is not None or s.task is not None],
    )


def check_references(hosts: list[Any], where: str) -> None:
    """Every secret reference the hosts' credentials use parses and names an installed backend's slug."""
    from nornflow.secrets.backends import BackendRegistry
    from nornflow.secrets.reference import is_reference, parse_chain

    known = set(BackendRegistry().names())
    problems: dict[str, list[str]] = {}  # problem -> hosts
    seen: set[tuple[int, str]] = set()
    for host in hosts:
        for element, field, value in _credential_fields(host):
            if not is_reference(value) or (id(element), field) in seen:
                continue
            seen.add((id(element), field))
            try:
                refs = parse_chain(value)
            except SecretReferenceError as exc:
                problems.setdefault(f"{_name(element)} {field}: {exc}", []).append(host.name)
                continue
            for ref in refs:
                if ref.location.backend not in known:
                    problems.setdefault(
                        f"{_name(element)} {field}: no secrets backend {ref.location.backend!r} "
                        f"(installed: {', '.join(sorted(known))})", [],
                    ).append(host.name)
    if problems:
        shown = [f"{text} (used by {len(users)} selected host(s))" for text, users in problems.items()]
        more = f"; and {len(shown) - 3} more" if len(shown) > 3 else ""
        raise SecretReferenceError(f"inventory {where}: " + "; ".join(shown[:3]) + more)


def _name(element: Any) -> str:
    from nornir.core.inventory import Defaults, Group

    if isinstance(element, Defaults):
        return "defaults"
    return f"group {element.name!r}" if isinstance(element, Group) else f"host {element.name!r}"


def _credential_fields(host: Any) -> Iterator[tuple[Any, str, Any]]:
    """(element, dotted field, raw value) for the credential fields of the host, its groups and the defaults."""
    for element in (host, *host.extended_groups(), host.defaults):
        for attr in _ATTRS:
            yield element, attr, object.__getattribute__(element, attr)  # its own value, not inherited
        for conn, opts in (element.connection_options or {}).items():
            for attr in _ATTRS:
                yield element, f"connection_options.{conn}.{attr}", getattr(opts, attr)
            for key, value in (opts.extras or {}).items():
                yield element, f"connection_options.{conn}.extras.{key}", value
