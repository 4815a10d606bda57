"""Scrapli-like sessions on pretend devices (no I/O): a Junos candidate/commit device and an IOS-like one.

They answer with the texts real devices print (``syntax error.``, ``configuration check
succeeds``, ``commit complete``, ``% Invalid input detected``) and log every line they are
sent, so a test reads the exact sequence a push produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"

JUNOS_FAILED = ["is ambiguous", "No valid completions", "unknown command", "syntax error",
                "missing mandatory argument", "invalid numeric value"]
IOS_FAILED = ["% Ambiguous command", "% Incomplete command", "% Invalid input detected", "% Unknown command"]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _response(line: str, result: str, markers: list[str]) -> SimpleNamespace:
    return SimpleNamespace(channel_input=line, result=result, failed=any(m in result for m in markers),
                           textfsm_platform="")


@dataclass
class FakeJunos:
    """A Junos device: ``set``/``delete`` edit a shared candidate that ``commit`` makes active."""

    active: list[str]
    syntax_errors: set[str] = field(default_factory=set)  # lines the CLI refuses as typed
    commit_errors: set[str] = field(default_factory=set)  # lines that make commit (check) fail
    ignored: set[str] = field(default_factory=set)  # lines a commit silently leaves out (a buggy device)
    sent: list[str] = field(default_factory=list)
    candidate: list[str] | None = None
    mode: str = "exec"
    failed_when_contains: list[str] = field(default_factory=lambda: list(JUNOS_FAILED))
    default_desired_privilege_level: str = "exec"

    def text(self) -> str:
        return "\n".join(self.active) + "\n"

    def send_command(self, command: str) -> SimpleNamespace:
        self.acquire_priv("exec")
        self.sent.append(command)
        if command == "show configuration | display set":
            return _response(command, "\n".join(self.active) + "\n", self.failed_when_contains)
        return _response(command, "\nunknown command.", self.failed_when_contains)

    def acquire_priv(self, desired_priv: str) -> None:
        if desired_priv == "configuration" and self.mode == "exec":
            self.sent.append("configure")
            self.mode = "configuration"
            if self.candidate is None:
                self.candidate = list(self.active)
        elif desired_priv == "exec" and self.mode == "configuration":
            assert self.candidate == self.active, "left configuration mode with uncommitted changes"
            self.sent.append("exit configuration-mode")
            self.mode = "exec"

    def _errors(self) -> list[str]:
        assert self.candidate is not None
        return [f"[edit]\n  '{line}'\n    error: statement refused" for line in self.candidate
                if line in self.commit_errors]

    def _line(self, line: str) -> str:
        assert self.candidate is not None
        if line in self.syntax_errors:
            return f"{line}\n       ^\nsyntax error."
        if line.startswith("set "):
            if line not in self.candidate:
                self.candidate.append(line)
            return ""
        if line.startswith("delete "):
            path = "set " + line.removeprefix("delete ")
            kept = [c for c in self.candidate if not (c == path or c.startswith(path + " "))]
            found = len(kept) != len(self.candidate)
            self.candidate[:] = kept
            return "" if found else "warning: statement not found"
        if line == "rollback 0":
            self.candidate = list(self.active)
            return "load complete"
        if line in ("commit check", "commit"):
            errors = self._errors()
            if errors:
                return "\n".join([*errors, "error: configuration check-out failed"])
            if line == "commit check":
                return "configuration check succeeds"
            self.active = [c for c in self.candidate if c not in self.ignored]
            self.candidate = list(self.active)
            return "commit complete"
        return "unknown command."

    def send_configs(self, configs: list[str], *, privilege_level: str = "",
                     failed_when_contains: list[str] | None = None, stop_on_failed: bool = False,
                     timeout_ops: float | None = None) -> list[SimpleNamespace]:
        self.acquire_priv("configuration")
        markers = failed_when_contains or self.failed_when_contains
        responses = []
        for line in configs:
            self.sent.append(line)
            responses.append(_response(line, "\n" + self._line(line) + "\n\n[edit]", markers))
            if stop_on_failed and responses[-1].failed:
                break
        return responses


@dataclass
class FakeIOS:
    """An IOS-like device whose config lines are live as typed (a flat list of lines is enough here)."""

    rejects: set[str] = field(default_factory=set)
    sent: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    answer: str = "% Invalid input detected at '^' marker."  # what a rejected line earns
    #: Running configs ``show running-config`` returns, one per read (the last one repeats).
    reads: list[str] = field(default_factory=list)
    default_desired_privilege_level: str = "privilege_exec"

    def send_command(self, command: str) -> SimpleNamespace:
        self.sent.append(command)
        if command != "show running-config":  # no file system here: snapshots are unknown commands
            return _response(command, f"{command}\n ^\n{self.answer}", IOS_FAILED)
        text = self.reads.pop(0) if len(self.reads) > 1 else (self.reads or [""])[0]
        return _response(command, text, IOS_FAILED)

    def send_configs(self, configs: list[str], *, stop_on_failed: bool = False,
                     timeout_ops: float | None = None, **_: Any) -> list[SimpleNamespace]:
        self.calls.append({"configs": list(configs), "stop_on_failed": stop_on_failed})
        responses = []
        for line in configs:
            self.sent.append(line)
            answer = self.answer if line.strip() in self.rejects else ""
            responses.append(_response(line, answer, IOS_FAILED))
            if stop_on_failed and responses[-1].failed:
                break
        return responses


class FakeHost:
    """Just what the config tasks use of a Nornir host."""

    def __init__(self, name: str, platform: str, conn: Any) -> None:
        self.name, self.platform, self.conn = name, platform, conn
        self.hostname, self.port = "127.0.0.1", 22
        self.connections: dict[str, Any] = {"scrapli": conn}

    def get_connection(self, name: str, config: Any) -> Any:
        self.connections[name] = self.conn
        return self.conn

    def close_connection(self, name: str) -> None:
        self.connections.pop(name, None)


def fake_task(name: str, platform: str, conn: Any) -> Any:
    return SimpleNamespace(host=FakeHost(name, platform, conn), nornir=SimpleNamespace(config=None))
