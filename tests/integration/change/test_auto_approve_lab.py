"""deploy_config honours auto_approve only on a Prefect server marked as a lab's (defence in depth behind
the gateway, issue 18): the flow checks the server's ``nornflow_lab`` variable, not only its parameter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.variables import Variable

from nornflow.flows import deploy_config
from nornflow.settings import LAB_VARIABLE

pytestmark = pytest.mark.integration
TEMPLATES = str(Path(__file__).resolve().parents[3] / "examples" / "templates")


@pytest.fixture
def unmarked_server(_prefect: str | None) -> Iterator[None]:
    """The session server without its lab mark for one test (tests of one xdist worker run one at a time)."""
    Variable.unset(LAB_VARIABLE)
    try:
        yield
    finally:
        Variable.set(LAB_VARIABLE, True, overwrite=True)


def test_auto_approve_is_refused_on_a_server_not_marked_as_a_lab(unmarked_server: None, tmp_path: Path) -> None:
    from nornflow.lab import Lab

    with Lab(size=1, directory=tmp_path / "lab") as lab:
        before = {host: lab.running_config(host) for host in lab.devices}
        state = deploy_config(inventory=str(lab.inventory_dir), templates=TEMPLATES, auto_approve=True,
                              backup_dir=str(tmp_path / "bk"), return_state=True)
        assert state.is_failed()
        assert "auto_approve" in (state.message or "") and LAB_VARIABLE in (state.message or "")
        assert {host: lab.running_config(host) for host in lab.devices} == before  # nothing planned or pushed
    assert not (tmp_path / "bk").exists()


@pytest.mark.parametrize("value", [False, "false", "yes", 1])
def test_only_true_marks_a_lab(unmarked_server: None, value: object) -> None:
    from nornflow.flows.deploy_config import lab_server

    Variable.set(LAB_VARIABLE, value, overwrite=True)  # type: ignore[arg-type]
    assert lab_server() is False
    Variable.set(LAB_VARIABLE, "true", overwrite=True)
    assert lab_server() is True
