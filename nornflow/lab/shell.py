"""A fakenos shell whose devices remember their configuration across SSH sessions.

fakenos answers from static output; this ``CMDShell`` subclass adds config mode
(``configure terminal``, sub-mode prompts such as ``(config-if)#``, ``exit``, ``end``) and
answers ``show running-config`` from the device's :class:`~nornflow.lab.running.DeviceStore`
entry. The store also holds the faults a test asks for: lines the device rejects, a
session dropped after a number of config lines, an answer held back after a line; and
every config line each device received, in order. The lab installs a subclass bound to its
own store as ``net.shell_plugins["CMDShell"]`` before it starts the devices.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fakenos.plugins.shell.cmd_shell import CMDShell

from nornflow.lab.running import ConfigSession, DeviceStore

CONFIGURE = ("configure terminal", "conf t", "config terminal", "configure", "conf term")
INVALID = "% Invalid input detected at '^' marker."
IOS_BANNER = "Enter configuration commands, one per line.  End with CNTL/Z."


class StatefulShell(CMDShell):  # type: ignore[misc]  # fakenos ships no types
    """One SSH session on a lab device; the configuration lives in the class's ``store``."""

    store: ClassVar[DeviceStore]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session: ConfigSession | None = None
        self.exec_prompt = f"{self.base_prompt}#"

    @property
    def device(self) -> str:
        return str(self.base_prompt)

    def _set_mode(self) -> None:
        self.prompt = self.exec_prompt if self.session is None else f"{self.base_prompt}({self.session.mode})#"

    def _show_running(self) -> str:
        body = self.store.text(self.device)
        if getattr(self.nos, "name", "") == "arista_eos":
            return f"! Command: show running-config\n! device: {self.device} (vEOS-lab)\n!\n{body}"
        return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n!\n{body}"

    def onecmd(self, line: str) -> bool:
        if self.device not in self.store.devices:  # not a stateful device: plain fakenos
            return bool(super().onecmd(line))
        text = " ".join(line.split())
        if self.session is not None:
            return self._config_line(line, text)
        if self.prompt == self.exec_prompt and text in CONFIGURE:
            self.session = ConfigSession(self.store.get(self.device).config)
            self._set_mode()
            if getattr(self.nos, "name", "") != "arista_eos":
                self.writeline(IOS_BANNER)
            return False
        if self.prompt == self.exec_prompt and text == "show running-config":
            self.writeline(self._show_running())
            return False
        return bool(super().onecmd(line))

    def _config_line(self, raw: str, text: str) -> bool:
        """One line in config mode; True closes the session (a drop the test asked for)."""
        assert self.session is not None
        state = self.store.get(self.device)
        if not text or text.startswith("!"):
            return False
        with state.lock:
            state.received.append(text)
        hold: float | None = None
        if text == "end":
            self.session = None
        elif text == "exit":
            if not self.session.exit():
                self.session = None
        elif text.startswith("do "):
            self.writeline(self._show_running() if text == "do show running-config" else "")
        else:
            with state.lock:
                if state.drop_after is not None:
                    if state.drop_after <= 0:
                        state.drop_after = None
                        return True
                    state.drop_after -= 1
                if text in state.rejects:
                    self.writeline(INVALID)
                    return False
                if self.session.root is not state.config:  # set behind the session's back
                    self.session = ConfigSession(state.config)
                self.session.apply(raw.rstrip("\r\n"))
            hold = state.delays.get(text)
        if hold:  # applied, but the answer (the prompt) comes late: a push caught in the middle
            state.release.wait(hold)
        self._set_mode()
        return False


def bind_shell(store: DeviceStore) -> type[StatefulShell]:
    """A shell class for one lab: every session of its devices reads and edits ``store``."""
    return type("LabStatefulShell", (StatefulShell,), {"store": store})
