"""Process-wide registry of secret values to mask wherever NornFlow emits text.

The secrets resolver registers every value it resolves; records, artifacts, log
records and exception texts pass through :func:`redact` before they leave the
process. Values shorter than 4 characters are still masked, but empty strings are
ignored (masking "" would mangle every string).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"

_lock = threading.Lock()
_values: set[str] = set()
_ordered: tuple[str, ...] = ()


def register(*values: str | None) -> None:
    """Remember values that must never be shown."""
    global _ordered
    new = {v for v in values if isinstance(v, str) and v}
    if not new - _values:
        return
    with _lock:
        _values.update(new)
        # Longest first, so a secret that contains another is masked whole.
        _ordered = tuple(sorted(_values, key=len, reverse=True))


def registered() -> Iterable[str]:
    """The registered values (for tests and scanners)."""
    return tuple(_ordered)


def clear() -> None:
    """Forget every registered value (tests only)."""
    global _ordered
    with _lock:
        _values.clear()
        _ordered = ()


def redact_text(text: str) -> str:
    for value in _ordered:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(obj: Any) -> Any:
    """Return a copy of ``obj`` with every registered value masked (str, dict, list, tuple)."""
    if not _ordered:
        return obj
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {redact(k): redact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered values in a record's message and args."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _ordered:
            record.msg = redact_text(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact_text(
                    logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
                )
                record.exc_info = None
        return True


_filter = RedactingFilter()


def install_log_filter(*logger_names: str) -> None:
    """Attach the redacting filter to the handlers of the given loggers (root when none)."""
    names = logger_names or ("",)
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
        for handler in logger.handlers:
            if _filter not in handler.filters:
                handler.addFilter(_filter)
