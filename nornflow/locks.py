"""Moved to :mod:`nornflow.deploy.locks`; kept because earlier docs taught ``nornflow.locks.DEVICE_LOCKS``."""

from nornflow.deploy.locks import (
    DEVICE_LOCK,
    DEVICE_LOCKS,
    ensure_device_locks,
    inventory_hosts,
    lock_name,
    missing_device_locks,
)

__all__ = ["DEVICE_LOCK", "DEVICE_LOCKS", "ensure_device_locks", "inventory_hosts", "lock_name", "missing_device_locks"]
