"""What a device's terminal does with keystrokes: echo them, let backspace edit, hand over whole lines.

asyncssh has a line editor that does this, but it builds a 65,536-character regular
expression for every session it starts (about 10 ms of CPU, most of a session's cost in the
lab); network CLIs need far less: echo, backspace, Ctrl-U, Ctrl-C, and ``\\r``, ``\\n`` or
``\\r\\n`` as Enter. A password is not echoed.
"""

from __future__ import annotations

ENTER = "\r\n"
CTRL_C, CTRL_U, CTRL_Z = "\x03", "\x15", "\x1a"


class LineReader:
    """Keystrokes in; the echo to send back and, once Enter is pressed, the line typed."""

    def __init__(self) -> None:
        self.echo = True  # False while the device reads a password
        self._line: list[str] = []
        self._after_cr = False

    def feed(self, data: str) -> tuple[str, str | None, str]:
        """Take keys from ``data`` up to the end of one line: (echo, the line or None, keys left over)."""
        echo: list[str] = []
        for i, ch in enumerate(data):
            after_cr, self._after_cr = self._after_cr, ch == "\r"
            if ch == "\n" and after_cr:
                continue  # the \n of a \r\n: Enter was already taken
            if ch in "\r\n" or ch in (CTRL_C, CTRL_Z):
                line = CTRL_Z if ch == CTRL_Z else "" if ch == CTRL_C else "".join(self._line)
                self._line.clear()
                echo.append("^C" + ENTER if ch == CTRL_C else "^Z" + ENTER if ch == CTRL_Z else ENTER)
                return "".join(echo), line, data[i + 1:]
            if ch in "\x7f\b":
                if self._line:
                    self._line.pop()
                    echo.append("\b \b" if self.echo else "")
            elif ch == CTRL_U:
                echo.append("\b \b" * len(self._line) if self.echo else "")
                self._line.clear()
            elif ch.isprintable() or ch == "\t":
                self._line.append(ch)
                if self.echo:
                    echo.append(ch)
        return "".join(echo), None, ""
