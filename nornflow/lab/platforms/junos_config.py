"""Junos configuration mode: a candidate that ``set``/``delete`` edit and ``commit`` makes active.

``configure`` edits the shared candidate (uncommitted changes stay for the next session, as on
a real device); ``configure private`` edits a copy of its own and ``configure exclusive`` locks
the shared candidate; both throw uncommitted changes away on exit. ``rollback N`` loads commit N
of the device's history into the candidate; ``load override|merge|set <file>|terminal`` (the
terminal form ends at Ctrl-D) loads text, ``save <file>`` writes the candidate to the device's
files, ``commit confirmed [minutes]`` rolls back by itself unless a ``commit`` or ``commit check``
confirms it in time; ``show | compare [rollback N]`` diffs the candidate.
Leaving with uncommitted changes: ``exit``/``quit`` ask (``Exit with uncommitted changes?
[yes,no] (yes)``), ``exit configuration-mode`` (what scrapli sends) warns and leaves without asking.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from nornflow.lab.platforms import junos_tree as tree
from nornflow.lab.platforms.junos_show import validate
from nornflow.lab.shell import Reply, Shell, Terminal, apply_filters, column, split_pipes
from nornflow.lab.store import Pending
from nornflow.lab.tree import Node

VERBS = ("set", "delete", "edit", "top", "up", "exit", "quit", "commit", "rollback", "show", "run", "status", "load",
         "save", "insert")
LOADING = "[Type ^D at a new line to end input]\n"
CHANGED = "The configuration has been changed but not committed\n"
DISCARDED = "warning: discarding uncommitted changes\nload complete\n"
EXITING = "Exiting configuration mode\n\n"


class JunosConfigShell(Shell):
    """The candidate-configuration half of a Junos session (operational mode: :class:`.junos.JunosShell`)."""

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(terminal)
        self.mode: str | None = None  # None: operational mode; else "shared", "private" or "exclusive"
        self.path: list[str] = []  # the `edit` level, as words
        self.levels: list[list[str]] = []  # earlier `edit` levels, for `exit`
        self.private: Node | None = None  # `configure private`: this session's own candidate
        self.private_base = ""  # the active config (set lines) the private copy started from
        self.question: tuple[str, Callable[[bool], Reply]] | None = None  # a [yes,no] question pending
        self.loading: tuple[str, list[str]] | None = None  # `load <how> terminal`: the lines typed so far

    def exec_line(self, text: str) -> Reply:
        raise NotImplementedError

    # -- prompts and errors --

    def hostname(self) -> str:
        with self.state.lock:
            node = tree.subtree(self.state.config, ["system", "host-name"])
        return node.text.split(None, 1)[1] if node is not None else "router"

    def prompt(self) -> str:
        if self.question is not None:
            return self.question[0]
        if self.loading is not None:
            return ""  # `load ... terminal` reads lines without a prompt until Ctrl-D
        who = f"{self.terminal.username}@{self.hostname()}"
        if self.mode is None:
            return f"{who}> "
        level = " ".join(tree.labels(self.path))
        return f"\n[edit{' ' + level if level else ''}]\n{who}# "

    def invalid(self, text: str, word: int, *, config: bool = False) -> str:
        prompt = self.prompt().rsplit("\n", 1)[-1]
        marker = " " * (len(prompt) + column(text, word)) + "^\n"
        if word == 0:
            return f"{marker}unknown command.\n"
        return f"{marker}syntax error{'' if config else ', expecting <command>'}.\n"

    def rejected(self, text: str) -> str:
        return self.invalid(text, 1, config=True)

    def locked(self) -> str | None:
        holder = self.state.exclusive
        if holder is None or holder is self:
            return None
        user = holder.terminal.username if isinstance(holder, Shell) else "root"
        return (f"error: configuration database locked by:\n  {user} terminal pts/0 (pid {os.getpid()}) on since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n      exclusive [edit]\n")

    # -- the candidate --

    def db(self) -> Node:
        """The configuration this session edits: its private copy, or the shared candidate."""
        if self.private is not None:
            return self.private
        with self.state.lock:
            if self.state.candidate is None:
                self.state.candidate = self.state.config.clone()
            return self.state.candidate

    def changed(self) -> bool:
        with self.state.lock:
            if self.private is not None:
                return tree.render_set(self.private) != self.private_base
            candidate = self.state.candidate
            return candidate is not None and tree.render_set(candidate) != tree.render_set(self.state.config)

    def discard(self) -> None:
        with self.state.lock:
            if self.private is not None:
                self.private = self.state.config.clone()
                self.private_base = tree.render_set(self.private)
            else:
                self.state.candidate = None

    def close(self) -> None:
        """A session that ends in private or exclusive mode loses its changes (and the lock)."""
        if self.mode == "exclusive":
            self.discard()
        self._left("")

    # -- entering and leaving --

    def enter(self, kind: str) -> Reply:
        with self.state.lock:
            locked = self.locked()
            if locked and kind != "shared":
                return Reply(locked)
            shared_changed = self.changed()
            if kind == "private" and shared_changed:
                return Reply("error: shared configuration database modified\n")
            notes = ["warning: uncommitted changes will be discarded on exit\n"] if kind != "shared" else []
            notes.append("Entering configuration mode\n")
            if locked:
                notes.append(locked.replace("error: configuration database locked by:",
                                            "Users currently editing the configuration:"))
            if kind == "shared" and shared_changed:
                notes.append(CHANGED)
            if kind == "exclusive":
                self.state.exclusive = self
            if kind == "private":
                self.private = self.state.config.clone()
                self.private_base = tree.render_set(self.private)
        self.mode, self.path, self.levels = kind, [], []
        return Reply("".join(notes))

    def _left(self, output: str) -> Reply:
        with self.state.lock:
            if self.state.exclusive is self:
                self.state.exclusive = None
        self.mode, self.private, self.path, self.levels = None, None, [], []
        return Reply(output)

    def leave(self, ask: bool) -> Reply:
        """Back to operational mode; uncommitted changes stay (``configure``) or go (private, exclusive)."""
        if not self.changed():
            return self._left(EXITING)
        keeps = self.mode == "shared"
        if not ask:
            if not keeps:
                self.discard()
            return self._left(CHANGED + ("" if keeps else DISCARDED) + EXITING)

        def answer(yes: bool) -> Reply:
            if not yes:
                return Reply()
            if not keeps:
                self.discard()
            return self._left(("" if keeps else DISCARDED) + EXITING)

        if keeps:
            self.question = ("Exit with uncommitted changes? [yes,no] (yes) ", answer)
            return Reply(CHANGED)
        self.question = ("Discard uncommitted changes? [yes,no] (yes) ", answer)
        return Reply(f"{CHANGED}warning: Auto rollback on exiting 'configure {self.mode}'\n")

    # -- lines --

    def config_line(self, text: str) -> Reply:
        if self.loading is not None:
            return self.load_line(text)
        if not text:
            return Reply()
        self.received(text)
        command, filters = split_pipes(text)
        words = tree.tokens(command)
        verbs = [v for v in VERBS if v.startswith(words[0])]
        verb = words[0] if words[0] in VERBS else (verbs[0] if len(verbs) == 1 else "")
        args = words[1:]
        if verb in ("set", "delete", "edit"):
            full = [*self.path, *args]
            if not full or full[0] not in tree.TOP:
                return Reply(self.invalid(text, 1 if not self.path else 0, config=True))
            if verb == "edit":
                self.levels.append(self.path)
                self.path = full
                return Reply()
            return self.guarded(text, lambda: self.edit(verb, tree.labels(full)))
        if verb in ("exit", "quit"):
            if args == ["configuration-mode"]:
                return self.leave(ask=False)
            if self.levels:
                self.path = self.levels.pop()
                return Reply()
            return self.leave(ask=True)
        if verb == "top":
            self.path, self.levels = [], []
            return Reply()
        if verb == "up":
            self.path = " ".join(tree.labels(self.path)[: -int(args[0]) if args else -1]).split()
            return Reply()
        if verb == "commit":
            return self.commit(text, args)
        if verb == "rollback":
            if args and not args[0].isdigit():
                return Reply(self.invalid(text, 1, config=True))
            return self.guarded(text, lambda: self.rollback(int(args[0]) if args else 0))
        if verb == "show":
            return self.show(text, args, filters)
        if verb == "run" and args:
            return self.exec_line(text.split(None, 1)[1])
        if verb == "load" and len(args) == 2 and args[0] in ("override", "merge", "set", "replace"):
            if args[1] == "terminal":
                self.loading = (args[0], [])
                return Reply(LOADING)
            with self.state.lock:
                text_ = self.state.files.get(args[1])
            if text_ is None:
                return Reply(f"error: file does not exist: {args[1]}\nerror: load of file '{args[1]}' failed\n")
            return self.guarded(text, lambda: self.load(args[0], text_))
        if verb == "save" and len(args) == 1:
            with self.state.lock:
                body = tree.render_curly(self.db())
                self.state.files[args[0]] = body
            return Reply(f"Wrote {body.count(chr(10))} lines of configuration to '{args[0]}'\n")
        if verb == "insert" and ("before" in args or "after" in args):
            where = "before" if "before" in args else "after"
            at = args.index(where)
            moved, anchor = tree.labels([*self.path, *args[:at]]), tree.labels(args[at + 1:])
            return self.guarded(text, lambda: "" if tree.insert(self.db(), moved, where, anchor)
                                else "error: statement not found\n")
        if verb == "status":
            return Reply(f"Users currently editing the configuration:\n  {self.terminal.username} terminal pts/0 "
                         f"(pid {os.getpid()})\n      [edit]\n")
        return Reply(self.invalid(text, 0, config=True))

    def load_line(self, text: str) -> Reply:
        """A line of ``load ... terminal`` input; Ctrl-D (``\\x04``) ends it and loads what came."""
        assert self.loading is not None
        how, lines = self.loading
        if "\x04" not in text:
            lines.append(text)
            return Reply()
        self.loading = None
        return self.guarded("load", lambda: self.load(how, "\n".join(lines)))

    def load(self, how: str, text: str) -> str:
        with self.state.lock:
            loaded = tree.load(self.db(), how, text)
            if self.private is not None:
                self.private = loaded
            else:
                self.state.candidate = loaded
        return "load complete\n"

    def edit(self, verb: str, path: list[str]) -> str:
        db = self.db()
        if verb == "set":
            tree.set_path(db, path)
            return ""
        return "" if tree.delete_path(db, path) else "warning: statement not found\n"

    def commit(self, text: str, args: list[str]) -> Reply:
        option = args[0] if args else ""
        if option not in ("", "check", "and-quit", "comment", "confirmed"):
            return Reply(self.invalid(text, 1, config=True))

        def apply() -> str:
            locked = self.locked()
            if locked:
                return locked
            candidate = self.db()
            errors = validate(candidate)
            if errors:
                return f"{errors}error: configuration check-out failed\n"
            if option == "check":
                self.state.pending = None  # `commit check` confirms a `commit confirmed` too
                return "configuration check succeeds\n"
            if self.private is not None and tree.render_set(self.state.config) != self.private_base:
                return "error: configuration database modified\n"
            comment = " ".join(args[1:]).strip('"') if option == "comment" else ""
            previous = self.state.config
            self.state.pending = None  # any commit confirms an earlier `commit confirmed`
            self.state.replace(candidate.clone(), self.terminal.username, comment)
            if option == "confirmed":
                minutes = int(args[1]) if len(args) > 1 and args[1].isdigit() else 10
                self.state.pending = Pending(time.time() + 60 * minutes, previous,
                                             "UI_COMMIT_CONFIRMED_TIMED: commit confirmed rollback complete")
                if self.private is not None:
                    self.discard()
                return (f"configuration check succeeds\ncommit confirmed will be automatically rolled back in "
                        f"{minutes} minutes unless confirmed\ncommit complete\n")
            if self.private is not None:
                self.discard()  # the private copy starts again from the new active config
            return "commit complete\n"

        reply = self.guarded(text, apply)
        if option == "and-quit" and reply.output.endswith("commit complete\n"):
            reply.output += self._left(EXITING).output
        return reply

    def rollback(self, number: int) -> str:
        with self.state.lock:
            if number >= len(self.state.commits):
                return f"error: Requested rollback configuration {number} does not exist\n"
            target = self.state.commits[number].config.clone()
            if self.private is not None:
                self.private = target
            else:
                self.state.candidate = target
        return "load complete\n"

    def show(self, text: str, args: list[str], filters: list[str]) -> Reply:
        db = self.db()
        if filters and filters[0].startswith("compare"):
            spec = filters[0].split()
            with self.state.lock:
                number = int(spec[2]) if len(spec) == 3 and spec[1] == "rollback" and spec[2].isdigit() else 0
                if number >= len(self.state.commits):
                    return Reply(f"error: Requested rollback configuration {number} does not exist\n")
                base = self.state.commits[number].config if self.state.commits else self.state.config
                return Reply(tree.compare(base, db))
        path = tree.labels([*self.path, *args])
        with self.state.lock:
            node = tree.subtree(db, path)
            if node is None:
                return Reply()
            display_set = "display set" in filters
            output = tree.render_set(node, path) if display_set else tree.render_curly(node)
        rest = [f for f in filters if f != "display set"]
        filtered = apply_filters(output, rest) if rest else output
        return Reply(filtered if filtered is not None else self.invalid(text, len(args) + 2, config=True))
