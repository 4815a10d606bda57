"""The lab terminal's keystroke handling: what it echoes and which lines it hands over."""

from __future__ import annotations

from nornflow.lab.terminal import LineReader


def test_echo_backspace_and_one_enter_for_crlf() -> None:
    keys = LineReader()
    assert keys.feed("sh ver") == ("sh ver", None, "")
    assert keys.feed("\x7f\x7f\x7fclock\r\nnext\n") == ("\b \b" * 3 + "clock\r\n", "sh clock", "\nnext\n")
    assert keys.feed("\nnext\n") == ("next\r\n", "next", "")  # the \n of that \r\n is no second Enter
    assert keys.feed("\n") == ("\r\n", "", "")  # a lone \n after a finished \r\n line is a new Enter


def test_passwords_are_not_echoed_and_ctrl_keys() -> None:
    keys = LineReader()
    keys.echo = False
    assert keys.feed("s3cret\r") == ("\r\n", "s3cret", "")
    keys.echo = True
    assert keys.feed("abc\x15xyz\x03") == ("abc" + "\b \b" * 3 + "xyz^C\r\n", "", "")
    assert keys.feed("\x1a") == ("^Z\r\n", "\x1a", "")
