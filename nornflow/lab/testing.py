"""pytest fixtures for projects that test flows against the simulated lab.

Registered through the ``pytest11`` entry point, so any project that installs
``nornflow-netops[lab]`` gets them: ``nornflow_lab`` (4 devices, per test) and
``nornflow_lab_factory`` (call it with :class:`~nornflow.lab.Lab` arguments; every lab it
made is stopped at the end of the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def nornflow_lab_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    from nornflow.lab import Lab

    labs: list[Lab] = []

    def make(**kwargs: Any) -> Lab:
        kwargs.setdefault("directory", tmp_path_factory.mktemp("lab"))
        lab = Lab(**kwargs).start()
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def nornflow_lab(nornflow_lab_factory: Callable[..., Any]) -> Any:
    return nornflow_lab_factory(size=4)
