"""`nornflow server mark-lab|unmark-lab`: the one explicit way to say a server's devices are a lab (where
deploy_config's auto_approve works), run as a person runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prefect.variables import Variable

from nornflow.settings import LAB_VARIABLE

pytestmark = pytest.mark.integration


def _cli(api_url: str, action: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_API_URL": api_url}
    return subprocess.run([sys.executable, "-m", "nornflow.cli", "server", action], env=env,
                          capture_output=True, text=True, timeout=120)


def test_mark_and_unmark_a_lab_server(_prefect: str) -> None:
    try:
        off = _cli(_prefect, "unmark-lab")
        assert off.returncode == 0, off.stderr
        assert "auto_approve is refused" in off.stdout and _prefect in off.stdout
        assert Variable.get(LAB_VARIABLE, default=None) is None
        on = _cli(_prefect, "mark-lab")
        assert on.returncode == 0, on.stderr
        assert "auto_approve works" in on.stdout and "unmark-lab" in on.stdout
        assert Variable.get(LAB_VARIABLE) is True
    finally:
        Variable.set(LAB_VARIABLE, True, overwrite=True)  # the session server stays the lab's
