"""Register NornFlow's block types and create the block documents of one environment.

    python blocks/register.py --config blocks/environments.yaml --env prod [--dry-run]

The config names blocks and their plain fields; every secret field (a pydantic
``SecretStr``: tokens, client secrets...) must come from an environment variable, written
``${VAR}``, so values never land in git. Without ``--config`` the path comes from
``NORNFLOW_BLOCKS_CONFIG``. Idempotent: an unchanged document is left alone, a changed
one is overwritten, and block types are (re-)registered every run.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import SecretStr

_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_SECRET_NAME = re.compile(r"secret|token|password|private_key", re.IGNORECASE)


def block_classes() -> dict[str, type[Block]]:
    import nornflow.blocks as nb

    classes: dict[str, type[Block]] = {"secret": Secret}
    for name in nb.__all__:
        cls = getattr(nb, name)
        classes[cls.get_block_type_slug()] = cls
    return classes


def _secret_fields(cls: type[Block]) -> set[str]:
    if cls is Secret:
        return {"value"}
    return {
        name for name, field in cls.model_fields.items()
        if SecretStr in (getattr(field.annotation, "__args__", None) or (field.annotation,))
    }


def expand(value: Any, where: str, secret: bool) -> Any:
    """``${VAR}`` -> the variable's value; a literal in a secret field is refused."""
    if isinstance(value, dict):  # nested blocks (AwsCredentials): judge secrecy by the field name
        return {
            k: expand(v, f"{where}.{k}", secret or bool(_SECRET_NAME.search(k))) for k, v in value.items()
        }
    if isinstance(value, str) and (match := _VAR.match(value.strip())):
        name = match.group(1)
        if name not in os.environ:
            raise SystemExit(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    if secret and value is not None:
        raise SystemExit(f"{where} is a secret field: write it as ${{ENV_VAR}}, never as a value in the file")
    return value


def _comparable(block: Block) -> dict[str, Any]:
    dump = block.model_dump(mode="python", context={"include_secrets": True})
    return {k: v for k, v in dump.items() if not k.startswith("_")}  # drop document id/name


def apply(config: dict[str, Any], env: str, dry_run: bool = False) -> list[tuple[str, str]]:
    """Create or update every block of ``env``; return (slug/name, created|updated|unchanged)."""
    classes = block_classes()
    entries = (config.get("environments") or {}).get(env)
    if entries is None:
        known = ", ".join(config.get("environments") or {})
        raise SystemExit(f"environment {env!r} not in the config (have: {known})")
    if not dry_run:
        for block_type in classes.values():
            block_type.register_type_and_schema()
    report: list[tuple[str, str]] = []
    for entry in entries:
        slug, name = entry["type"], entry["name"]
        cls = classes.get(slug)
        if cls is None:
            known = ", ".join(sorted(classes))
            raise SystemExit(f"{env}/{name}: unknown block type {slug!r} (have: {known})")
        secret = _secret_fields(cls)
        fields = {
            k: expand(v, f"{env}/{name}.{k}", k in secret or bool(_SECRET_NAME.search(k)))
            for k, v in (entry.get("fields") or {}).items()
        }
        block = cls(**fields)
        existing: Block | None
        try:
            existing = cls.load(name, _sync=True)  # type: ignore[call-arg,assignment]
        except ValueError:
            existing = None
        status = "created" if existing is None else (
            "unchanged" if _comparable(existing) == _comparable(block) else "updated"
        )
        if status != "unchanged" and not dry_run:
            block.save(name, overwrite=True)
        report.append((f"{slug}/{name}", status))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.environ.get("NORNFLOW_BLOCKS_CONFIG"), help="YAML config file")
    parser.add_argument("--env", required=True, help="environment name in the config (dev, prod...)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change, save nothing")
    args = parser.parse_args(argv)
    if not args.config:
        parser.error("give --config or set NORNFLOW_BLOCKS_CONFIG")
    config = yaml.safe_load(Path(args.config).read_text()) or {}
    for ref, status in apply(config, args.env, args.dry_run):
        print(f"{status:9} {ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
