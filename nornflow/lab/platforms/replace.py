"""Exact rollback as IOS, EOS and NX-OS do it: saved files, ``configure replace``, checkpoints, sessions.

Modelled commands and prompts (the texts of Cisco's configuration-replace and NX-OS rollback
guides and Arista's configuration-session guide, as far as the lab needs them):

- all three: ``copy running-config <fs>:<name>`` (IOS asks ``Destination filename [<name>]?``
  unless ``file prompt quiet`` is configured), ``dir [<fs>:]``, ``more <file>``,
  ``delete [/force] <file>``;
- IOS and EOS: ``configure replace <file> [force] [time <minutes>]``; IOS without ``force`` asks
  ``... Enter Y if you are sure you want to proceed. ? [no]:`` and answers ``Total number of
  passes: 1`` / ``Rollback Done``; with ``time`` the replace rolls back unless ``configure confirm``
  comes in time;
- NX-OS: ``checkpoint <name>``, ``no checkpoint <name>``, ``show checkpoint summary``,
  ``rollback running-config checkpoint <name>`` and ``rollback running-config file <file>``;
- EOS: ``configure session <name>`` (prompt ``(config-s-<name>)#``) edits a copy; ``commit``,
  ``commit timer hh:mm:ss`` (then ``configure session <name> commit`` confirms), ``abort``,
  ``show session-config diffs``.

A replace makes the running configuration exactly the file's (parsed as the platform prints it).
"""

from __future__ import annotations

import difflib
import time

from nornflow.lab.platforms.cisco import CiscoShell
from nornflow.lab.running import ConfigSession
from nornflow.lab.shell import Command, Reply
from nornflow.lab.store import Pending

C = Command
FILES: tuple[Command, ...] = (
    C(("copy", "running-config", "<arg>"), "copy_running", privileged=True),
    C(("configure", "replace", "<rest>"), "configure_replace", privileged=True),
    C(("configure", "confirm"), "configure_confirm", privileged=True),
    C(("dir",), "dir", privileged=True),
    C(("dir", "<arg>"), "dir", privileged=True),
    C(("more", "<arg>"), "more", privileged=True),
    C(("delete", "<rest>"), "delete", privileged=True),
)
REPLACE_WARNING = (
    "This will apply all necessary additions and deletions\nto replace the current running configuration with the\n"
    "contents of the specified configuration file, which is\nassumed to be a complete configuration, not a partial\n"
    "configuration. Enter Y if you are sure you want to proceed. ? [no]: "
)


class ReplacingShell(CiscoShell):
    """The file system and replace commands the three IOS-like platforms share."""

    file_system = "flash:"
    extra_exec = FILES

    def path(self, name: str) -> str:
        """``flash:/x.cfg``, ``flash:x.cfg`` and ``x.cfg`` name the same file."""
        fs, _, rest = name.rpartition(":")
        return f"{fs or self.file_system.rstrip(':')}:{rest.lstrip('/')}"

    def copied(self, size: int) -> str:
        return f"Copy completed successfully.\n{size} bytes copied\n"

    def do_copy_running(self, args: list[str]) -> Reply:
        target = self.path(args[0])

        def save(answer: str = "") -> Reply:
            name = self.path(answer) if answer else target
            with self.state.lock:
                self.state.files[name] = self.state.text()
                size = len(self.state.files[name])
            return Reply(self.copied(size))

        if self.grammar.name == "ios" and self.state.config.find("file prompt quiet") is None:
            self.question = (f"Destination filename [{target.split(':', 1)[1]}]? ", save)
            return Reply()
        return save()

    def do_dir(self, args: list[str]) -> Reply:
        fs = self.path(args[0] if args else self.file_system).split(":", 1)[0]
        with self.state.lock:
            rows = [(n.split(":", 1)[1], len(t)) for n, t in sorted(self.state.files.items()) if n.startswith(fs + ":")]
        lines = [f"Directory of {fs}:/", ""]
        lines += [f"{i + 1:>5}  -rw-{size:>14}  {time.strftime('%b %d %Y %H:%M:%S')} +00:00  {name}"
                  for i, (name, size) in enumerate(rows)]
        return Reply("\n".join([*lines, "", "2142715904 bytes total (2140000000 bytes free)"]) + "\n")

    def do_more(self, args: list[str]) -> Reply:
        text = self.state.files.get(self.path(args[0]))
        return Reply(text if text is not None else self.missing(args[0]))

    def do_delete(self, args: list[str]) -> Reply:
        name = self.path(next((a for a in args if not a.startswith("/")), ""))
        with self.state.lock:
            found = self.state.files.pop(name, None)
        return Reply("" if found is not None else self.missing(name))

    def missing(self, name: str) -> str:
        return f"%Error opening {name} (No such file or directory)\n"

    def replace_with(self, name: str) -> str | None:
        """Make the running config the file's; None when there is no such file."""
        with self.state.lock:
            text = self.state.files.get(self.path(name))
            if text is None:
                return None
            self.state.replace(self.state.syntax.parse(text), self.terminal.username)
        return ""

    def do_configure_replace(self, args: list[str]) -> Reply:
        name, options = args[0], args[1:]
        minutes = int(options[options.index("time") + 1]) if "time" in options[:-1] else None

        def apply(answer: str = "y") -> Reply:
            if not answer.lower().startswith("y"):
                return Reply()
            with self.state.lock:
                before = self.state.config.clone()
                if self.replace_with(name) is None:
                    return Reply(self.missing(self.path(name)))
                if minutes is not None:
                    self.state.pending = Pending(time.time() + 60 * minutes, before,
                                                 "%ROLLBACK-5-ROLLBACK: Configuration was rolled back (timer expired)")
            self.state.syslog(self.config_message())
            return Reply(self.replaced())

        if self.grammar.name == "ios" and "force" not in options:
            self.question = (REPLACE_WARNING, apply)
            return Reply()
        return apply()

    def replaced(self) -> str:
        return "Total number of passes: 1\nRollback Done\n\n"

    def do_configure_confirm(self, _: list[str]) -> Reply:
        with self.state.lock:
            self.state.pending = None
        return Reply()


class CheckpointShell(ReplacingShell):
    """NX-OS: named checkpoints of the running configuration and rollback to one of them or a file."""

    file_system = "bootflash:"
    extra_exec = (
        *FILES,
        C(("checkpoint", "<arg>"), "checkpoint", privileged=True),
        C(("no", "checkpoint", "<arg>"), "no_checkpoint", privileged=True),
        C(("show", "checkpoint", "summary"), "show_checkpoints"),
        C(("rollback", "running-config", "checkpoint", "<arg>"), "rollback_checkpoint", privileged=True),
        C(("rollback", "running-config", "file", "<arg>"), "rollback_file", privileged=True),
    )

    def copied(self, size: int) -> str:
        return f"Copy progress 100% {max(size // 1024, 1)}KB\nCopy complete, now saving to disk (please wait)...\n" \
               "Copy complete.\n"

    def do_checkpoint(self, args: list[str]) -> Reply:
        with self.state.lock:
            if args[0] in self.state.checkpoints:
                return Reply(f"Checkpoint name {args[0]} is already in use\n")
            self.state.checkpoints[args[0]] = (time.time(), self.state.config.clone())
        return Reply("......Done\n")

    def do_no_checkpoint(self, args: list[str]) -> Reply:
        with self.state.lock:
            found = self.state.checkpoints.pop(args[0], None)
        return Reply("" if found else f"Checkpoint {args[0]} does not exist\n")

    def do_show_checkpoints(self, _: list[str]) -> Reply:
        out = ["User Checkpoint Summary", "-" * 72]
        with self.state.lock:
            for n, (name, (at, _config)) in enumerate(self.state.checkpoints.items(), 1):
                out += [f"{n}) {name}:", f"Created by {self.terminal.username}",
                        f"Created at {time.strftime('%a, %H:%M:%S %d %b %Y', time.gmtime(at))}",
                        "Size is 1, lines", "Description: None", ""]
        return Reply("\n".join(out) + "\n")

    def rolled_back(self) -> Reply:
        self.state.syslog(self.config_message())
        return Reply("Note: Applying config parallelly may fail Rollback verification\nCollecting Running-Config\n"
                     "#Generating Rollback Patch\nExecuting Rollback Patch\nGenerating Running-config for "
                     "verification\n#Generating Patch for verification\nVerification is Successful.\n\n"
                     "Rollback completed successfully.\n\n")

    def do_rollback_checkpoint(self, args: list[str]) -> Reply:
        with self.state.lock:
            found = self.state.checkpoints.get(args[0])
            if found is None:
                return Reply(f"Checkpoint {args[0]} does not exist\n")
            self.state.replace(found[1].clone(), self.terminal.username)
        return self.rolled_back()

    def do_rollback_file(self, args: list[str]) -> Reply:
        if self.replace_with(args[0]) is None:
            return Reply(self.missing(self.path(args[0])))
        return self.rolled_back()


class SessionShell(ReplacingShell):
    """EOS: ``configure replace`` without a question, and configuration sessions that edit a copy."""

    extra_exec = (
        *FILES,
        C(("configure", "session", "<arg>"), "configure_session", privileged=True),
        C(("configure", "session", "<arg>", "commit"), "session_confirm", privileged=True),
        C(("configure", "session", "<arg>", "abort"), "session_abort", privileged=True),
    )

    def replaced(self) -> str:
        return ""

    def do_configure_session(self, args: list[str]) -> Reply:
        with self.state.lock:
            copy = self.state.sessions.setdefault(args[0], self.state.config.clone())
        self.session = ConfigSession(copy, self.grammar)
        self.session_name = args[0]
        return Reply()

    def do_session_confirm(self, args: list[str]) -> Reply:
        with self.state.lock:
            self.state.pending = None
        del args
        return Reply()

    def do_session_abort(self, args: list[str]) -> Reply:
        with self.state.lock:
            self.state.sessions.pop(args[0], None)
        return Reply()

    def session_line(self, text: str) -> Reply | None:
        name = self.session_name
        if name is None or self.session is None:
            return None
        words = text.split()
        if words == ["abort"]:
            with self.state.lock:
                self.state.sessions.pop(name, None)
            self.session, self.session_name = None, None
            return Reply()
        if words[:1] == ["commit"]:
            timer = words[2] if words[1:2] == ["timer"] and len(words) > 2 else None
            with self.state.lock:
                before = self.state.config.clone()
                self.state.replace(self.state.sessions.pop(name), self.terminal.username)
                if timer is not None:
                    h, m, s = (int(x) for x in timer.split(":"))
                    self.state.pending = Pending(time.time() + 3600 * h + 60 * m + s, before,
                                                 f"%CONFIG-5-SESSION_ROLLBACK: session {name} timer expired")
            self.session_name = None
            self.leave_config()
            return Reply()
        if words == ["show", "session-config", "diffs"]:
            with self.state.lock:
                old = self.state.syntax.render(self.state.config).splitlines(keepends=True)
                new = self.state.syntax.render(self.session.root).splitlines(keepends=True)
            return Reply("".join(difflib.unified_diff(old, new, "system:/running-config", f"session:/{name}-session")))
        return None

    def leave_config(self) -> None:
        if self.session_name is not None:  # `end` leaves the session pending, uncommitted
            self.session, self.session_name = None, None
            return
        super().leave_config()
