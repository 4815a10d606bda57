"""Keep the lab's credentials in a Prefect ``Secret`` block and reference them from the inventory.

The inventory then says where the credentials live, never what they are, the same way
a production inventory references Vault or AWS Secrets Manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def reference(block: str, key: str) -> str:
    return f"secret:secret/{block}#{key}"


def use_secret_block(
    inventory_dir: Path, username: str, password: str, block: str = "nornflow-lab-credentials"
) -> None:
    """Save the credentials as Prefect ``Secret`` block ``block`` and rewrite defaults.yaml to reference it."""
    from prefect.blocks.system import Secret

    value: Any = {"username": username, "password": password}
    Secret(value=value).save(block, overwrite=True)
    path = inventory_dir / "defaults.yaml"
    defaults = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    defaults["username"] = reference(block, "username")
    defaults["password"] = reference(block, "password")
    extras = defaults.get("connection_options", {}).get("scrapli", {}).get("extras", {})
    if "auth_secondary" in extras:
        extras["auth_secondary"] = reference(block, "password")
    path.write_text(yaml.safe_dump(defaults, sort_keys=False), encoding="utf-8")
