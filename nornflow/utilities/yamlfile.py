"""Read a YAML file for a person: a missing file or a syntax error names the file (and line) and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load_yaml(path: Path, what: str, error: type[Exception], hint: str = "") -> Any:
    """The parsed document of ``path``; ``error("<what> <path>[:line] ...")`` when it cannot be read or parsed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror}{hint}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise error(f"{what} {where}: malformed YAML ({getattr(exc, 'problem', exc)})") from None
