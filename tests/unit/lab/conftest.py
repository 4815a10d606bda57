"""Lab shells driven line by line, without SSH: one device of a platform in a fresh store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nornflow.lab.baseline import baseline
from nornflow.lab.devices import PLATFORMS
from nornflow.lab.shell import Shell, Terminal
from nornflow.lab.store import DeviceStore

Open = Callable[..., Shell]


@pytest.fixture
def store() -> DeviceStore:
    return DeviceStore()


@pytest.fixture
def open_shell(store: DeviceStore) -> Open:
    """``open_shell(platform, name=...)``: a new session on that device (added to the store once)."""

    def make(platform: str, name: str = "fra-leaf-01", username: str = "admin", **extra: object) -> Shell:
        spec = PLATFORMS[platform]
        if name not in store.devices:
            store.add(name, baseline(platform, name, len(store.devices) + 1), spec.syntax, platform=platform,
                      index=len(store.devices) + 1, password="s3cret", commits=spec.commits)
        return spec.open(Terminal(name, store.get(name), username, dict(extra)))

    return make


def run(shell: Shell, *lines: str) -> str:
    """Type ``lines``; the answers and prompts as a terminal shows them (without echo)."""
    out = []
    for line in lines:
        reply = shell.handle(line)
        out.append(reply.output + shell.prompt())
    return "".join(out)
