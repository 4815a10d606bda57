"""What every simulated device remembers for the life of the lab, shared by all its SSH sessions.

A device's configuration is a tree of :class:`~nornflow.lab.running.Node` lines; its platform's
:class:`ConfigSyntax` turns text into that tree and back (IOS ``!`` sections, EOS's three-space
indent, NX-OS blank lines, Junos braces), so ``show running-config``, the lab's Python API and
every session read one source of truth. The state also holds the faults a test asks for and the
lines each device received. The SSH sessions run in the lab's event loop thread while tests call
the lab from theirs, so every change happens under the device's lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nornflow.lab.tree import Node


@dataclass(frozen=True)
class ConfigSyntax:
    """How one platform writes its configuration: text to tree and tree to text."""

    parse: Callable[[str], Node]
    render: Callable[[Node], str]


@dataclass(frozen=True)
class Commit:
    """One entry of a commit-style device's history (Junos ``rollback N``).

    Its tree is the very one that was active: commit-style devices never edit the active
    tree in place (their sessions edit a candidate copy), and a rollback loads a copy.
    """

    config: Node
    at: float
    user: str
    comment: str = ""


#: How many messages a device's logging buffer keeps.
LOG_SIZE = 200
#: How many previous configurations a commit-style device keeps (``rollback 0`` .. ``rollback 9``).
HISTORY = 10


@dataclass
class Pending:
    """A change that rolls itself back unless confirmed in time (Junos ``commit confirmed``, IOS
    ``configure replace ... time``, EOS ``commit timer``)."""

    deadline: float
    previous: Node  # the configuration to go back to
    message: str  # what the device logs when it rolls back


@dataclass
class DeviceState:
    """One simulated device: its configuration, credentials, faults and what it received."""

    config: Node
    syntax: ConfigSyntax
    platform: str = "cisco_ios"
    index: int = 1  # counts from 1; serial numbers and MAC addresses derive from it
    password: str = "admin"  # noqa: S105 - the lab's own, public default
    booted: float = field(default_factory=time.time)
    rejects: set[str] = field(default_factory=set)
    drop_after: int | None = None  # close the session after this many more config lines
    delays: dict[str, float] = field(default_factory=dict)  # line -> seconds to hold the answer after it
    release: threading.Event = field(default_factory=threading.Event)  # ends every held answer at once
    received: list[str] = field(default_factory=list)  # every config-mode line, in order, for tests
    lock: threading.RLock = field(default_factory=threading.RLock)
    changed_at: float = field(default_factory=time.time)
    # Commit-style devices (Junos): the shared candidate (None: no uncommitted change), the
    # history (newest first, [0] is the active config) and the session holding `configure exclusive`.
    candidate: Node | None = None
    commits: list[Commit] = field(default_factory=list)
    exclusive: object | None = None
    log: list[tuple[float, str]] = field(default_factory=list)  # (time, message): what `show logging` shows
    files: dict[str, str] = field(default_factory=dict)  # "flash:pre.cfg" -> text (the device's file system)
    checkpoints: dict[str, tuple[float, Node]] = field(default_factory=dict)  # NX-OS `checkpoint NAME`
    sessions: dict[str, Node] = field(default_factory=dict)  # EOS `configure session NAME`, not committed
    pending: Pending | None = None  # a confirmed commit or timed replace waiting for its confirmation

    def settle(self) -> None:
        """Roll back an unconfirmed change whose time ran out (the device's timer, checked when used)."""
        with self.lock:
            pending = self.pending
            if pending is not None and time.time() >= pending.deadline:
                self.pending = None
                self.replace(pending.previous.clone(), comment="automatic rollback")
                self.syslog(pending.message)

    def syslog(self, message: str) -> None:
        """Keep one log message (the newest ``LOG_SIZE``), as the device's logging buffer does."""
        with self.lock:
            self.log.append((time.time(), message))
            del self.log[:-LOG_SIZE]

    def text(self) -> str:
        with self.lock:
            self.settle()
            return self.syntax.render(self.config)

    def replace(self, config: Node, user: str = "root", comment: str = "") -> None:
        """Make ``config`` the running (active) configuration, as a commit or a change by hand does."""
        with self.lock:
            self.config = config
            self.candidate = None
            self.changed_at = time.time()
            if self.commits:
                self.commits.insert(0, Commit(config, self.changed_at, user, comment))
                del self.commits[HISTORY:]


class DeviceStore:
    """The states of every device of a lab, by name."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceState] = {}

    def add(self, name: str, config: str, syntax: ConfigSyntax, *, platform: str, index: int,
            password: str, commits: bool = False) -> DeviceState:
        state = DeviceState(syntax.parse(config), syntax, platform=platform, index=index, password=password)
        if commits:
            state.commits = [Commit(state.config, state.booted, "root")]
        self.devices[name] = state
        return state

    def get(self, name: str) -> DeviceState:
        return self.devices[name]

    def text(self, name: str) -> str:
        return self.devices[name].text()

    def set_text(self, name: str, config: str) -> None:
        state = self.devices[name]
        state.replace(state.syntax.parse(config))
