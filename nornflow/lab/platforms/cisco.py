"""The CLI that IOS, EOS and NX-OS share: ``>``/``#`` prompts, ``enable``, ``configure terminal``.

A platform subclass sets a few class attributes (its default hostname, whether a login lands
in privileged mode, whether ``enable`` asks for a secret, whether ``show`` works in config mode)
and supplies its texts: ``show version``, the ``show running-config`` header, the error for an
unknown command. Config lines edit the device's tree through a
:class:`~nornflow.lab.running.ConfigSession` (sub-mode prompts such as ``(config-if)#``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from nornflow.lab.grammar import IOS, Grammar
from nornflow.lab.running import ConfigSession
from nornflow.lab.shell import Command, Reply, Shell, Terminal, column, resolve, split_pipes
from nornflow.lab.tree import Node

C = Command
COMMANDS: tuple[Command, ...] = (
    C(("enable",), "enable"),
    C(("disable",), "disable"),
    C(("exit",), "logout"),
    C(("logout",), "logout"),
    C(("quit",), "logout"),
    C(("terminal", "length", "<arg>"), "terminal_length"),
    C(("terminal", "width", "<arg>"), "terminal_width"),
    C(("terminal", "monitor"), "silent"),
    C(("terminal", "no", "monitor"), "silent"),
    C(("show", "version"), "show_version"),
    C(("show", "clock"), "show_clock"),
    C(("show", "hostname"), "show_hostname"),
    C(("show", "privilege"), "show_privilege"),
    C(("show", "ip", "interface", "brief"), "show_ip_interface_brief"),
    C(("show", "interfaces"), "op_interfaces"),
    C(("show", "interface"), "op_interfaces"),
    C(("show", "inventory"), "op_inventory"),
    C(("show", "cdp", "neighbors"), "op_cdp_neighbors"),
    C(("show", "lldp", "neighbors"), "op_lldp_neighbors"),
    C(("show", "ip", "route"), "op_ip_route"),
    C(("show", "ip", "bgp", "summary"), "op_ip_bgp_summary"),
    C(("show", "logging"), "op_logging"),
    C(("show", "ip", "access-lists"), "op_access_lists"),
    C(("show", "ip", "access-lists", "<arg>"), "op_access_lists"),
    C(("show", "access-lists"), "op_access_lists"),
    C(("show", "access-lists", "<arg>"), "op_access_lists"),
    C(("show", "running-config"), "show_running", privileged=True),
    C(("show", "running-config", "<rest>"), "show_running", privileged=True),
    C(("show", "startup-config"), "show_running", privileged=True),
    C(("configure", "terminal"), "configure", privileged=True),
    C(("configure",), "configure", privileged=True),
    C(("write", "memory"), "write", privileged=True),
    C(("copy", "running-config", "startup-config"), "write", privileged=True),
)
#: First words that are exec commands, never config lines, in config mode.
EXEC_ONLY = ("configure", "write", "copy", "show", "terminal", "enable", "disable", "ping", "reload")


def interfaces(root: Node) -> list[tuple[str, str | None, bool]]:
    """(name, address or None, administratively up) for every ``interface`` section."""
    found = []
    for node in root.children:
        if node.text.startswith("interface "):
            address = next((c.text.split()[2:] for c in node.children if c.text.startswith("ip address ")), None)
            shut = any(c.text == "shutdown" for c in node.children)
            found.append((node.text.split(None, 1)[1], " ".join(address) if address else None, not shut))
    return found


class CiscoShell(Shell):
    """One session on an IOS-like device."""

    default_hostname: ClassVar[str] = "Router"
    grammar: ClassVar[Grammar] = IOS
    starts_privileged: ClassVar[bool] = False
    enable_secret: ClassVar[bool] = True
    show_in_config: ClassVar[bool] = False
    config_banner: ClassVar[str] = ""
    extra_exec: ClassVar[tuple[Command, ...]] = ()
    #: The platform's show commands derived from its facts, by name: ``name -> (shell, args) -> text``.
    operational: ClassVar[Mapping[str, Callable[[CiscoShell, list[str]], str]]] = {}

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(terminal)
        self.privileged = self.starts_privileged
        self.session: ConfigSession | None = None
        self.awaiting_secret = False
        self.question: tuple[str, Callable[[str], Reply]] | None = None  # a prompt the next line answers
        self.session_name: str | None = None  # EOS `configure session NAME`: the session edits a copy

    # -- what the subclasses supply --

    def show_version(self) -> str:
        raise NotImplementedError

    def running_header(self, body: str) -> str:
        return body

    def invalid(self, text: str, word: int) -> str:
        """The answer to ``text`` whose word number ``word`` makes no sense (``len(words)``: incomplete)."""
        raise NotImplementedError

    def show_clock(self) -> str:
        return time.strftime("*%H:%M:%S.000 UTC %a %b %d %Y\n", time.gmtime())

    def show_ip_interface_brief(self) -> str:
        raise NotImplementedError

    # -- the session --

    def hostname(self) -> str:
        with self.state.lock:
            node = next((c for c in self.state.config.children if c.text.startswith("hostname ")), None)
        return node.text.split(None, 1)[1] if node else self.default_hostname

    def prompt(self) -> str:
        if self.awaiting_secret:
            return "Password: "
        if self.question is not None:
            return self.question[0]
        host = self.hostname()
        if self.session is not None:
            mode = self.session.mode
            if self.session_name is not None:
                mode = mode.replace("config", f"config-s-{self.session_name[:6]}", 1)
            return f"{host}({mode})#"
        return f"{host}#" if self.privileged else f"{host}>"

    def rejected(self, text: str) -> str:
        return self.invalid(text, 0)

    def handle(self, line: str) -> Reply:
        self.state.settle()
        if self.awaiting_secret:
            self.awaiting_secret = False
            if line.strip() == self.state.password:
                self.privileged = True
                return Reply()
            return Reply("% Bad secrets\n\n")
        raw = line.rstrip("\r\n")
        text = " ".join(raw.split())
        if self.question is not None:
            _, answer = self.question
            self.question = None
            return answer(text)
        if self.session is not None:
            return self.config_line(raw, text)
        return self.exec_line(text)

    def run_once(self, command: str) -> Reply:
        return self.exec_line(" ".join(command.split()), privileged=True)

    def exec_line(self, text: str, privileged: bool | None = None) -> Reply:
        if not text:
            return Reply()
        fixed = self.fixed_answer(text)
        if fixed is not None:
            return fixed
        command_text, filters = split_pipes(text)
        words = command_text.split()
        allowed = self.privileged if privileged is None else privileged
        table = [c for c in (*COMMANDS, *self.extra_exec) if allowed or not c.privileged]
        found = resolve(words, table)
        if found.command is None:
            return Reply(self.invalid(text, found.bad_word))
        action = found.command.action
        if action.startswith("op_"):
            show = self.operational.get(action[3:])
            if show is None:
                return Reply(self.invalid(text, 1))
            with self.state.lock:
                output = show(self, found.args)
            return self.filtered(Reply(output), filters, text, len(words))
        reply: Reply = getattr(self, f"do_{action}")(found.args)
        return self.filtered(reply, filters, text, len(words))

    def config_line(self, raw: str, text: str) -> Reply:
        """One line in config mode; faults apply to the lines that change the configuration."""
        assert self.session is not None
        if not text or text.startswith("!"):
            return Reply()
        self.received(text)
        if text in ("end", "\x1a"):
            self.leave_config()
            return Reply()
        if text == "exit":
            if not self.session.exit():
                self.leave_config()
            return Reply()
        if text.startswith("do "):
            return self.exec_line(text[3:], privileged=True)
        special = self.session_line(text)
        if special is not None:
            return special
        first = text.split()[0]
        if self.show_in_config and first == "show":
            return self.exec_line(text, privileged=True)
        if first in EXEC_ONLY:
            return Reply(self.invalid(text, 0))

        def apply() -> str:
            assert self.session is not None
            if self.session.root is not self.state.config and self.session_name is None:  # replaced meanwhile
                self.session = ConfigSession(self.state.config, self.grammar)
            answer = self.session.apply(raw)
            self.state.changed_at = time.time()
            return answer

        return self.guarded(text, apply)

    def session_line(self, text: str) -> Reply | None:
        """A config-mode line the platform handles itself (EOS session ``commit``/``abort``); None if not."""
        del text
        return None

    def leave_config(self) -> None:
        """Back to exec mode; the device logs who configured it (IOS's ``%SYS-5-CONFIG_I``)."""
        self.session = None
        self.state.syslog(self.config_message())

    def config_message(self) -> str:
        return f"%SYS-5-CONFIG_I: Configured from console by {self.terminal.username} on vty0 (127.0.0.1)"

    # -- exec commands --

    def do_enable(self, _: list[str]) -> Reply:
        if self.privileged or not self.enable_secret:
            self.privileged = True
            return Reply()
        self.awaiting_secret = True
        return Reply(secret=True)

    def do_disable(self, _: list[str]) -> Reply:
        self.privileged = False
        return Reply()

    def do_logout(self, _: list[str]) -> Reply:
        return Reply(close=True)

    def do_silent(self, _: list[str]) -> Reply:
        return Reply()

    def do_terminal_length(self, _: list[str]) -> Reply:
        return Reply()

    def do_terminal_width(self, _: list[str]) -> Reply:
        return Reply()

    def do_show_version(self, _: list[str]) -> Reply:
        return Reply(self.show_version())

    def do_show_clock(self, _: list[str]) -> Reply:
        return Reply(self.show_clock())

    def do_show_hostname(self, _: list[str]) -> Reply:
        return Reply(f"{self.hostname()}\n")

    def do_show_privilege(self, _: list[str]) -> Reply:
        return Reply(f"Current privilege level is {15 if self.privileged else 1}\n")

    def do_show_ip_interface_brief(self, _: list[str]) -> Reply:
        return Reply(self.show_ip_interface_brief())

    def do_show_running(self, args: list[str]) -> Reply:
        with self.state.lock:
            root = self.state.config
            if args[:1] in (["all"], ["full"]):
                args = args[1:]  # the lab holds no defaults to add: `all` shows the configuration itself
            if args:
                prefix = " ".join(args)
                root = Node("", [c for c in root.children if c.text == prefix or c.text.startswith(prefix + " ")])
            body = self.state.syntax.render(root)
        return Reply(self.running_header(body))

    def do_configure(self, _: list[str]) -> Reply:
        self.session = ConfigSession(self.state.config, self.grammar)
        return Reply(f"{self.config_banner}\n" if self.config_banner else "")

    def do_write(self, _: list[str]) -> Reply:
        return Reply("Building configuration...\n[OK]\n")

    def position(self, text: str, word: int) -> int:
        """The ``^`` marker's column: under word ``word`` of ``text``, after the prompt."""
        return len(self.prompt()) + column(text, word)
