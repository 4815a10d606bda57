"""Register NornFlow's block types and create the block documents of one environment.

    python blocks/register.py --config blocks/environments.yaml --env prod [--dry-run]

The config names blocks and their plain fields; every secret field (a pydantic
``SecretStr``: tokens, client secrets...) must come from an environment variable, written
``${VAR}``, so values never land in git. Without ``--config`` the path comes from
``NORNFLOW_BLOCKS_CONFIG``. Every entry is checked first (known block type, every
``${VAR}`` set, fields the block accepts), and all that is wrong is reported at once before the
Prefect API is called, so a missing variable costs no server start. Then the block types
the environment uses are (re-)registered and each document is created, or overwritten when
changed; an unchanged document is left alone. The documents go to ``PREFECT_API_URL`` (the
first line printed says which server); without it, to a temporary server Prefect starts on its
default database (``$PREFECT_HOME/prefect.db``, what ``prefect server start`` serves).
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
from pydantic import SecretStr, ValidationError

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


class Missing(Exception):
    """An environment variable a ``${VAR}`` names is not set (collected, then reported together)."""

    def __init__(self, where: str, name: str) -> None:
        super().__init__(f"{where}: environment variable {name} is not set")
        self.name = name


def expand(value: Any, where: str, secret: bool, missing: list[Missing] | None = None) -> Any:
    """``${VAR}`` -> the variable's value; a literal in a secret field is refused.

    With ``missing``, an unset variable is appended to it (and ``None`` returned) instead of
    stopping at the first, so every missing variable can be named at once.
    """
    if isinstance(value, dict):  # nested blocks (AwsCredentials): judge secrecy by the field name
        return {
            k: expand(v, f"{where}.{k}", secret or bool(_SECRET_NAME.search(k)), missing) for k, v in value.items()
        }
    if isinstance(value, list):  # e.g. nornflow-local's recipients
        return [expand(v, f"{where}[{i}]", secret, missing) for i, v in enumerate(value)]
    if isinstance(value, str) and (match := _VAR.match(value.strip())):
        name = match.group(1)
        if name not in os.environ:
            if missing is None:
                raise SystemExit(f"{where}: environment variable {name} is not set")
            missing.append(Missing(where, name))
            return None
        return os.environ[name]
    if secret and value is not None:
        raise SystemExit(f"{where} is a secret field: write it as ${{ENV_VAR}}, never as a value in the file")
    return value


def check(config: dict[str, Any], env: str) -> list[tuple[str, type[Block], Block]]:
    """Every entry of ``env`` as ``(name, class, block)``, or SystemExit naming everything wrong.

    Touches no server: unknown types, unset variables and fields a block refuses are all found here.
    """
    classes = block_classes()
    entries = (config.get("environments") or {}).get(env)
    if entries is None:
        known = ", ".join(config.get("environments") or {})
        raise SystemExit(f"environment {env!r} not in the config (have: {known})")
    problems: list[str] = []
    missing: list[Missing] = []
    blocks: list[tuple[str, type[Block], Block]] = []
    for entry in entries:
        slug, name = entry["type"], entry["name"]
        cls = classes.get(slug)
        if cls is None:
            problems.append(f"{env}/{name}: unknown block type {slug!r} (have: {', '.join(sorted(classes))})")
            continue
        secret = _secret_fields(cls)
        before = len(missing)
        fields = {
            k: expand(v, f"{env}/{name}.{k}", k in secret or bool(_SECRET_NAME.search(k)), missing)
            for k, v in (entry.get("fields") or {}).items()
        }
        if len(missing) > before:
            continue
        try:
            blocks.append((name, cls, cls(**fields)))
        except ValidationError as exc:
            problems += [f"{env}/{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    problems += [str(m) for m in missing]
    if missing:
        names = sorted({m.name for m in missing})
        problems.append("export " + " ".join(f"{n}=..." for n in names) + " and run again (nothing was saved)")
    if problems:
        raise SystemExit("\n".join(problems))
    return blocks


def _comparable(block: Block) -> dict[str, Any]:
    dump = block.model_dump(mode="python", context={"include_secrets": True})
    return {k: v for k, v in dump.items() if not k.startswith("_")}  # drop document id/name


def apply(config: dict[str, Any], env: str, dry_run: bool = False) -> list[tuple[str, str]]:
    """Create or update every block of ``env``; return (slug/name, created|updated|unchanged)."""
    blocks = check(config, env)  # everything wrong is reported before the server is asked anything
    if not dry_run:
        for block_type in {cls for _, cls, _ in blocks}:
            block_type.register_type_and_schema()
    report: list[tuple[str, str]] = []
    for name, cls, block in blocks:
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
        report.append((f"{cls.get_block_type_slug()}/{name}", status))
    return report


def _where() -> str:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    url = PREFECT_API_URL.value()
    if url:
        return f"the Prefect server at {url}"
    return (f"a temporary Prefect server on {PREFECT_HOME.value()}/prefect.db "
            "(no PREFECT_API_URL set; that database is what `prefect server start` shows)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.environ.get("NORNFLOW_BLOCKS_CONFIG"), help="YAML config file")
    parser.add_argument("--env", required=True, help="environment name in the config (dev, prod...)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change, save nothing")
    args = parser.parse_args(argv)
    if not args.config:
        parser.error("give --config or set NORNFLOW_BLOCKS_CONFIG")
    config = yaml.safe_load(Path(args.config).read_text()) or {}
    check(config, args.env)  # fail on bad input before a temporary server is started (seconds)
    print(f"{'checking against' if args.dry_run else 'saving to'} {_where()}", flush=True)
    for ref, status in apply(config, args.env, args.dry_run):
        print(f"{status:9} {ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
