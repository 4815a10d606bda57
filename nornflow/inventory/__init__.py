"""Inventories: a directory of Nornir YAML files (:mod:`nornflow.inventory.load`) or a source of
truth such as Nautobot or NetBox (:mod:`nornflow.inventory.sources`), both read into one Nornir."""

from nornflow.inventory.load import HostFilter, inventory_problems, load_nornir

__all__ = ["HostFilter", "inventory_problems", "load_nornir"]
