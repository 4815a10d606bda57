"""Roles a principal holds in a workspace, and the permissions each role grants.

The roles are the ones Prefect Cloud users already know (viewer, runner, developer, worker,
owner) plus ``approver``: someone who may answer a paused run's approval form and nothing else, and
``metrics``: a Prometheus scrape of ``/metrics`` (:mod:`nornflow.gateway.metrics`) and nothing else.
A permission is what :mod:`nornflow.gateway.policy.routes` asks for; a role is only a named bundle of
permissions, so a principal with several roles holds the union of their permissions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from nornflow.gateway.errors import RoleError


class Perm(StrEnum):
    """One thing the gateway lets a principal do in a workspace."""

    READ = "read"  # every read: GETs, read-only POSTs (filter/count/paginate/history, /ui/*), /events/out, /logs/out
    SECRETS = "secrets"  # block documents with include_secrets true
    RUN = "run"  # start a deployment with plain parameters; cancel and retry flow runs
    APPROVE = "approve"  # resume a paused flow run, write a `*-response` run input
    DEVELOP = "develop"  # change the workspace: deployments, schedules, automations, blocks, pools, deletes...
    WORK = "work"  # what workers and flow runs need: run/task-run states, logs, events, polling, slots
    ADMIN = "admin"  # /admin/* writes and the gateway's own users and tokens
    METRICS = "metrics"  # GET /metrics: the gateway's and the workspace's series, never a workspace's data


class Role(StrEnum):
    """A named bundle of permissions, granted to a user (or a token) in one workspace."""

    VIEWER = "viewer"
    RUNNER = "runner"
    APPROVER = "approver"
    DEVELOPER = "developer"
    WORKER = "worker"
    OWNER = "owner"
    METRICS = "metrics"


ROLE_PERMS: Mapping[Role, frozenset[Perm]] = MappingProxyType({
    Role.VIEWER: frozenset({Perm.READ}),
    Role.RUNNER: frozenset({Perm.READ, Perm.RUN}),
    Role.APPROVER: frozenset({Perm.READ, Perm.APPROVE}),
    Role.DEVELOPER: frozenset({Perm.READ, Perm.RUN, Perm.DEVELOP}),
    # A worker's credential is copied into every flow run it starts (prefect/workers/base.py), so
    # it must carry what flow code does: read blocks with secrets and start deployments (run_deployment).
    Role.WORKER: frozenset({Perm.READ, Perm.RUN, Perm.WORK, Perm.SECRETS}),
    Role.OWNER: frozenset(Perm),
    Role.METRICS: frozenset({Perm.METRICS}),  # a scrape token: no read, no UI data, nothing else
})


def roles_holding(perms: Iterable[Perm]) -> list[Role]:
    """The roles that grant at least one of ``perms``, in the order of :class:`Role`."""
    wanted = frozenset(perms)
    return [role for role in Role if ROLE_PERMS[role] & wanted]


def perms_for(roles: Iterable[Role | str]) -> frozenset[Perm]:
    """The union of the permissions of ``roles``; an unknown role name raises :class:`RoleError`."""
    granted: set[Perm] = set()
    for name in roles:
        try:
            role = Role(name)
        except ValueError:
            valid = ", ".join(role.value for role in Role)
            raise RoleError(f"unknown role {name!r}: the valid roles are {valid}") from None
        granted |= ROLE_PERMS[role]
    return frozenset(granted)
