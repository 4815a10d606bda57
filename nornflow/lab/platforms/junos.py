"""Juniper Junos: operational mode at ``user@host>``; configuration mode lives in :mod:`.junos_config`."""

from __future__ import annotations

import time

from nornflow.lab.platforms import junos_tree as tree
from nornflow.lab.platforms.junos_config import JunosConfigShell
from nornflow.lab.platforms.junos_show import SYNTAX, show_interfaces_terse, show_system_commit, show_version
from nornflow.lab.shell import Command, Reply, resolve, split_pipes

__all__ = ["SYNTAX", "JunosShell"]

C = Command
EXEC: tuple[Command, ...] = (
    C(("show", "version"), "show_version"),
    C(("show", "configuration"), "show_configuration"),
    C(("show", "configuration", "<rest>"), "show_configuration"),
    C(("show", "system", "commit"), "show_system_commit"),
    C(("show", "interfaces", "terse"), "show_interfaces_terse"),
    C(("set", "cli", "screen-length", "<arg>"), "screen_length"),
    C(("set", "cli", "screen-width", "<arg>"), "screen_width"),
    C(("set", "cli", "complete-on-space", "<arg>"), "complete_on_space"),
    C(("file", "show", "<arg>"), "file_show"),
    C(("file", "list"), "file_list"),
    C(("file", "list", "<arg>"), "file_list"),
    C(("file", "delete", "<arg>"), "file_delete"),
    C(("configure",), "configure"),
    C(("configure", "private"), "configure_private"),
    C(("configure", "exclusive"), "configure_exclusive"),
    C(("exit",), "logout"),
    C(("quit",), "logout"),
)


class JunosShell(JunosConfigShell):
    """One session on a Junos device."""

    def greeting(self) -> str:
        return "--- JUNOS 21.4R3.15 Kernel 64-bit  JNPR-12.1-20220509.1c6d7d9_buil\n"

    def handle(self, line: str) -> Reply:
        self.state.settle()
        text = " ".join(line.split())
        if self.question is not None:
            _, answer = self.question
            self.question = None
            return answer(text.lower() in ("", "y", "yes"))
        if self.mode is not None:
            return self.config_line(text)
        return self.exec_line(text)

    def exec_line(self, text: str) -> Reply:
        if not text:
            return Reply()
        fixed = self.fixed_answer(text)
        if fixed is not None:
            return fixed
        command, filters = split_pipes(text)
        words = command.split()
        found = resolve(words, EXEC)
        if found.command is None or (found.command.action.startswith("configure") and self.mode is not None):
            return Reply(self.invalid(text, max(found.bad_word, 0)))
        display_set = "display set" in filters
        save = next((f.split(None, 1)[1] for f in filters if f.startswith("save ")), None)
        filters = [f for f in filters if f != "display set" and not f.startswith("save ")]
        reply: Reply = getattr(self, f"do_{found.command.action}")(found.args, display_set)
        reply = self.filtered(reply, filters, text, len(words))
        if save is not None:  # `| save FILE`: the output goes to the device's file, not the screen
            with self.state.lock:
                self.state.files[save] = reply.output
            return Reply(f"Wrote {reply.output.count(chr(10))} lines of output to '{save}'\n")
        return reply

    def do_show_version(self, _: list[str], __: bool) -> Reply:
        return Reply(show_version(self.state, self.hostname()))

    def do_show_configuration(self, args: list[str], display_set: bool) -> Reply:
        path = tree.labels(args)
        with self.state.lock:
            node = tree.subtree(self.state.config, path)
            if node is None:
                return Reply()
            body = tree.render_set(node, path) if display_set else tree.render_curly(node)
            last = self.state.commits[0] if self.state.commits else None
        header = ""
        if last is not None and not args:
            header = f"## Last commit: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(last.at))} by {last.user}\n"
        return Reply(header + body)

    def do_show_system_commit(self, _: list[str], __: bool) -> Reply:
        return Reply(show_system_commit(self.state))

    def do_show_interfaces_terse(self, _: list[str], __: bool) -> Reply:
        return Reply(show_interfaces_terse(self.state))

    def do_screen_length(self, args: list[str], _: bool) -> Reply:
        return Reply(f"Screen length set to {args[0]}\n")

    def do_screen_width(self, args: list[str], _: bool) -> Reply:
        return Reply(f"Screen width set to {args[0]}\n")

    def do_complete_on_space(self, args: list[str], _: bool) -> Reply:
        return Reply(f"{'Disabling' if args[0] == 'off' else 'Enabling'} complete-on-space\n")

    def do_file_show(self, args: list[str], _: bool) -> Reply:
        text = self.state.files.get(args[0])
        return Reply(text if text is not None else f"error: could not resolve file: {args[0]}\n")

    def do_file_list(self, args: list[str], _: bool) -> Reply:
        """``file list [DIR]``: as Junos shows a directory, ``DIR:`` then one name a line (all files without DIR)."""
        with self.state.lock:
            names = sorted(self.state.files)
        if not args:
            return Reply("".join(f"{name}\n" for name in names))
        folder = args[0].rstrip("/") + "/"
        inside = [n[len(folder):] for n in names if n.startswith(folder) and "/" not in n[len(folder):]]
        return Reply(f"\n{folder}:\n" + "".join(f"{name}\n" for name in inside))

    def do_file_delete(self, args: list[str], _: bool) -> Reply:
        with self.state.lock:
            found = self.state.files.pop(args[0], None)
        return Reply("" if found is not None else f"error: could not resolve file: {args[0]}\n")

    def do_logout(self, _: list[str], __: bool) -> Reply:
        return Reply(close=True)

    def do_configure(self, _: list[str], __: bool) -> Reply:
        return self.enter("shared")

    def do_configure_private(self, _: list[str], __: bool) -> Reply:
        return self.enter("private")

    def do_configure_exclusive(self, _: list[str], __: bool) -> Reply:
        return self.enter("exclusive")
