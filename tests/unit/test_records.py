import pytest

from nornflow.engine.records import HostRecord, RunResult, parse_budget
from nornflow.exceptions import FailureBudgetExceeded


def _result(statuses: list[str]) -> RunResult:
    return RunResult(
        name="t",
        records=[HostRecord(host=f"h{i}", status=s, error="boom" if s == "failed" else None)  # type: ignore[arg-type]
                 for i, s in enumerate(statuses)],
    )


@pytest.mark.parametrize(
    ("budget", "total", "expected"),
    [(None, 10, 0), (0, 10, 0), (3, 10, 3), ("3", 10, 3), ("10%", 10, 1), ("25%", 10, 2), (0.5, 10, 5),
     ("100%", 7, 7)],
)
def test_parse_budget(budget, total, expected):
    assert parse_budget(budget, total) == expected


@pytest.mark.parametrize("bad", ["ten", "150%", -1])
def test_parse_budget_rejects_nonsense_with_a_hint(bad):
    with pytest.raises(ValueError, match="budget"):
        parse_budget(bad, 10)


def test_result_lists_and_summary_name_the_failed_hosts():
    result = _result(["ok", "failed", "ok", "failed"])
    assert result.ok_hosts == ["h0", "h2"]
    assert result.failed_hosts == ["h1", "h3"]
    assert "failed: h1, h3" in result.summary()
    assert result["h1"].error == "boom"
    with pytest.raises(KeyError, match="h9"):
        result["h9"]


def test_budget_check_names_hosts_and_how_to_rerun_them():
    result = _result(["ok", "failed", "failed"])
    assert result.within_budget(2)
    assert not result.within_budget("50%")
    with pytest.raises(FailureBudgetExceeded, match=r"2 of 3 hosts failed .*h1, h2.*'names'"):
        result.check_budget(1)


def test_records_serialize_round_trip():
    result = _result(["ok", "failed"])
    result.records[0].data = {"show version": {"output": "x"}}
    again = RunResult.model_validate_json(result.model_dump_json())
    assert again == result
