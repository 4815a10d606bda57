"""One interactive session on a lab device, as text: a line in, an answer and a prompt out.

There is no I/O here: the SSH server (:mod:`nornflow.lab.server`) feeds the lines a client
types and writes the answers; unit tests drive a shell directly. Each platform is a subclass
(:mod:`nornflow.lab.platforms`) with its prompts, commands and config mode; what they share
lives here: the command table that matches abbreviated words the way network CLIs do
(``sh run``, ``conf t``) and finds where an unknown command went wrong, output filters after
``|``, and the faults a test put in the device's :class:`~nornflow.lab.store.DeviceState`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornflow.lab.store import DeviceState


@dataclass
class Reply:
    """What the device answers to one line (the server writes ``output``, then the prompt)."""

    output: str = ""
    hold: float = 0.0  # seconds to hold the prompt back (a delay fault), or until the device's release
    close: bool = False  # the user logged out: end the session
    drop: bool = False  # the device drops the connection: a fault a test asked for
    secret: bool = False  # the next line is a password: do not echo it


@dataclass
class Terminal:
    """What a session knows when it starts: which device, who logged in, the lab's extra commands."""

    name: str
    state: DeviceState
    username: str = "admin"
    extra_commands: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """One command of a CLI: its words (``<arg>`` takes one word, ``<rest>`` the rest) and its handler."""

    words: tuple[str, ...]
    action: str
    privileged: bool = False

    def match(self, words: Sequence[str]) -> tuple[bool, int, list[str]]:
        """(matched, index of the first word that does not fit, arguments)."""
        args: list[str] = []
        for i, pattern in enumerate(self.words):
            if pattern == "<rest>":
                return True, -1, [*args, *words[i:]]
            if i >= len(words):
                return False, len(words), args
            if pattern == "<arg>":
                args.append(words[i])
            elif not pattern.startswith(words[i].lower()):
                return False, i, args
        if len(words) > len(self.words):
            return False, len(self.words), args
        return True, -1, args


@dataclass(frozen=True)
class Match:
    command: Command | None
    args: list[str]
    bad_word: int  # -1 when matched; == len(words) when the command is incomplete


def resolve(words: Sequence[str], table: Sequence[Command]) -> Match:
    """The command ``words`` name, by unique prefixes; else where the input stopped making sense."""
    found: list[tuple[Command, list[str]]] = []
    furthest = 0
    first = words[0].lower() if words else ""
    for command in table:
        head = command.words[0]
        if first and not head.startswith(first) and not head.startswith("<"):
            continue  # wrong at the first word: nothing to learn from it (the table grows, this stays cheap)
        ok, bad, args = command.match(words)
        if ok:
            found.append((command, args))
        else:
            furthest = max(furthest, bad)
    if found:
        exact = [f for f in found if all(w in f[0].words for w in words[: len(f[0].words)])]
        command, args = (exact or found)[0]
        return Match(command, args, -1)
    return Match(None, [], furthest)


def column(text: str, word: int) -> int:
    """Where word number ``word`` of ``text`` starts (for the ``^`` marker under it)."""
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    return starts[word] if word < len(starts) else len(text)


def split_pipes(text: str) -> tuple[str, list[str]]:
    """``show x | include y | exclude z`` -> (``show x``, [``include y``, ``exclude z``])."""
    parts = [p.strip() for p in text.split("|")]
    return parts[0], [p for p in parts[1:] if p]


def apply_filters(output: str, filters: Sequence[str]) -> str | None:
    """Cisco and Junos output filters; None when one is unknown."""
    lines = output.splitlines()
    for spec in filters:
        verb, _, arg = spec.partition(" ")
        arg = arg.strip().strip('"')
        verb = verb.lower()
        if verb in ("no-more", "display") and arg in ("", "no-more"):
            continue
        pattern = re.compile(arg) if arg else None
        if (verb and "include".startswith(verb)) or verb == "match":
            lines = [ln for ln in lines if pattern and pattern.search(ln)]
        elif (verb and "exclude".startswith(verb)) or verb == "except":
            lines = [ln for ln in lines if not (pattern and pattern.search(ln))]
        elif verb and "begin".startswith(verb):
            first = next((i for i, ln in enumerate(lines) if pattern and pattern.search(ln)), len(lines))
            lines = lines[first:]
        elif verb and "section".startswith(verb):
            kept: list[str] = []
            keep = False
            for ln in lines:
                if not ln.startswith(" "):
                    keep = bool(pattern and pattern.search(ln))
                if keep:
                    kept.append(ln)
            lines = kept
        elif verb == "count":
            lines = [f"Count: {len(lines)} lines"]
        else:
            return None
    return "".join(f"{ln}\n" for ln in lines)


def uptime(state: DeviceState) -> int:
    """Seconds the device has been up: the lab's age plus a few days, different per device."""
    return int(time.time() - state.booted) + 3 * 86400 + state.index * 7 * 3600 + state.index * 61


def serial(state: DeviceState, prefix: str) -> str:
    return f"{prefix}{state.index:07d}"


def mac(state: DeviceState, sep: str = ".") -> str:
    value = f"5254{state.index:08x}"
    if sep == ":":
        return ":".join(value[i:i + 2] for i in range(0, 12, 2))
    return sep.join(value[i:i + 4] for i in range(0, 12, 4))


class Shell:
    """One session on one device; platforms subclass it."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.state = terminal.state

    def greeting(self) -> str:
        """Text before the first prompt (a banner, ``Last login``)."""
        return ""

    def prompt(self) -> str:
        raise NotImplementedError

    def handle(self, line: str) -> Reply:
        raise NotImplementedError

    def run_once(self, command: str) -> Reply:
        """A command sent without a terminal (``ssh device 'show version'``)."""
        return self.handle(command)

    def close(self) -> None:
        """The session ended (the client left, logged out or was dropped)."""

    def fixed_answer(self, text: str) -> Reply | None:
        """The lab's ``extra_commands``: fixed answers a test added (any mode, any privilege)."""
        spec = self.terminal.extra_commands.get(text)
        if spec is None:
            return None
        output = str(spec.get("output") or "") if isinstance(spec, Mapping) else str(spec)
        return Reply(output + ("\n" if output and not output.endswith("\n") else ""))

    def invalid(self, text: str, word: int) -> str:
        """The platform's answer to a line it does not take (``word``: the 1-based bad word)."""
        raise NotImplementedError

    def filtered(self, reply: Reply, filters: Sequence[str], text: str, words: int) -> Reply:
        """``reply`` through the line's ``| include``-style filters; a filter the lab does not know is
        invalid input at the word after the command's ``words``."""
        if filters and reply.output:
            output = apply_filters(reply.output, filters)
            if output is None:
                return Reply(self.invalid(text, words + 1))
            reply.output = output
        return reply

    def guarded(self, text: str, apply: Callable[[], str]) -> Reply:
        """Apply one config line through the device's faults: a dropped session, a rejected line
        (``self.rejected``), an answer held back after the line was applied."""
        state = self.state
        with state.lock:
            if state.drop_after is not None:
                if state.drop_after <= 0:
                    state.drop_after = None
                    return Reply(drop=True)
                state.drop_after -= 1
            if text in state.rejects:
                return Reply(self.rejected(text))
            output = apply()
            hold = state.delays.get(text, 0.0)
        return Reply(output, hold=hold)

    def rejected(self, text: str) -> str:
        """The answer to a config line the device refuses."""
        raise NotImplementedError

    def received(self, text: str) -> None:
        with self.state.lock:
            self.state.received.append(text)
