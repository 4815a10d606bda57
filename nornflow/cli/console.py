"""What the ``nornflow`` command prints at a terminal: help text without docstring markup, Prefect's
console log lines without tracebacks (the API logs keep them), and a note of the host failures the
console has already shown."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
from collections.abc import Iterator


class FailureLines(logging.Filter):
    """Notes the ``[host] FAILED: reason`` lines the engine already logged to the console.

    The engine logs a host's failure as its batch ends; a host that failed before any batch
    (a secret that does not resolve, a key file inside the repository) is only in the result.
    The CLI prints a line for every failed host the console has not shown yet, so each one
    gets exactly one line with its reason.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: set[tuple[str, str | None]] = set()
        self._handlers: list[logging.Handler] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "[%s] FAILED: %s" and isinstance(record.args, tuple) and len(record.args) == 2:
            self.lines.add((str(record.args[0]), str(record.args[1])))
        return True

    def __enter__(self) -> FailureLines:
        self._handlers = console_handlers()
        for handler in self._handlers:
            handler.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for handler in self._handlers:
            handler.removeFilter(self)


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # Sphinx roles such as :mod:`nornflow.monitor.health`
_LITERAL = re.compile(r"``([^`]+)``")  # reStructuredText literals


def _plain(text: str | None) -> str | None:
    """Help text as a terminal shows it: docstring markup (``x``, :mod:`x`) becomes plain text."""
    if not text:
        return text
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


def plain_help(parser: argparse.ArgumentParser) -> None:
    """Help texts are often docstrings; strip their markup, which a terminal would print as is."""
    parser.description = _plain(parser.description)
    parser.epilog = _plain(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = _plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = _plain(choice.help)


class WithoutTraceback(logging.Formatter):
    """Formats a record with the wrapped formatter, minus its traceback.

    The record itself keeps the traceback, so the handlers that send logs to the Prefect
    API (they format their own copy) still have it.
    """

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def console_handlers() -> list[logging.Handler]:
    """Prefect's console handlers (one instance, shared by its loggers and the root), set up if need be."""
    import prefect.main  # noqa: F401 - sets up Prefect's logging once (setting it up here too costs 0.2-0.4 s)
    from prefect.logging.handlers import PrefectConsoleHandler

    return [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]


@contextlib.contextmanager
def console_without_tracebacks() -> Iterator[None]:
    """Prefect's console log lines without tracebacks while the block runs (the API logs keep them).

    Prefect's flow engine logs a flow's exception with its traceback ("Encountered exception
    during execution"); at a terminal that buries the one-line error :func:`main` prints.
    """
    handlers = console_handlers()
    formatters = [h.formatter for h in handlers]
    for handler, formatter in zip(handlers, formatters, strict=True):
        handler.setFormatter(WithoutTraceback(formatter))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, formatters, strict=True):
            handler.setFormatter(formatter)
