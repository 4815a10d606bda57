"""Per-host records and the aggregated outcome of one engine run.

Results are data: a host that fails becomes a record with ``status="failed"`` and the
reason, never an exception thrown across hosts. Every record serializes to JSON, so it
can be a Prefect result, an artifact row or a file.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field

from nornflow.exceptions import FailureBudgetExceeded

Status = Literal["ok", "failed", "skipped"]


class HostRecord(BaseModel):
    """What happened on one host."""

    host: str
    platform: str | None = None
    site: str | None = None
    role: str | None = None
    status: Status
    changed: bool = False
    data: Any = None
    error: str | None = None
    duration: float = Field(default=0.0, description="seconds spent on the host, last attempt")
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def parse_budget(budget: int | float | str | None, total: int) -> int:
    """How many failed hosts a run may have: ``None``/0 means none, ``"10%"`` a share of ``total``.

    A float between 0 and 1 is a share as well; an integer is a count.
    """
    if budget is None:
        return 0
    if isinstance(budget, str):
        text = budget.strip()
        try:
            if text.endswith("%"):
                share = float(text[:-1]) / 100
                if not 0 <= share <= 1:
                    raise ValueError
                return math.floor(share * total)
            return int(text)
        except ValueError:
            raise ValueError(
                f"failure budget {budget!r} is not understood: give a count (3) or a share ('10%')"
            ) from None
    if isinstance(budget, float) and 0 <= budget < 1:
        return math.floor(budget * total)
    if budget < 0:
        raise ValueError(f"failure budget {budget!r} is negative: give a count >= 0 or a share ('10%')")
    return int(budget)


class RunResult(BaseModel):
    """The records of one run of a Nornir task over the selected hosts."""

    name: str
    records: list[HostRecord]
    duration: float = 0.0
    batches: int = 0

    def __getitem__(self, host: str) -> HostRecord:
        for record in self.records:
            if record.host == host:
                return record
        raise KeyError(f"host {host!r} is not in the results of {self.name!r}")

    @property
    def ok_hosts(self) -> list[str]:
        return [r.host for r in self.records if r.status == "ok"]

    @property
    def failed_hosts(self) -> list[str]:
        return [r.host for r in self.records if r.status == "failed"]

    @property
    def changed_hosts(self) -> list[str]:
        return [r.host for r in self.records if r.changed]

    def summary(self) -> str:
        total = len(self.records)
        text = (
            f"{self.name}: {len(self.ok_hosts)}/{total} hosts ok, {len(self.failed_hosts)} failed, "
            f"{len(self.changed_hosts)} changed in {self.duration:.1f} s"
        )
        if self.failed_hosts:
            text += " | failed: " + ", ".join(self.failed_hosts)
        return text

    def within_budget(self, budget: int | float | str | None) -> bool:
        return len(self.failed_hosts) <= parse_budget(budget, len(self.records))

    def check_budget(self, budget: int | float | str | None) -> None:
        """Raise :class:`FailureBudgetExceeded` naming the failed hosts when over budget."""
        allowed = parse_budget(budget, len(self.records))
        failed = self.failed_hosts
        if len(failed) > allowed:
            raise FailureBudgetExceeded(
                f"{len(failed)} of {len(self.records)} hosts failed in {self.name!r} "
                f"(budget {allowed}): {', '.join(failed)}. The other hosts' work is kept; "
                f"rerun only the failed ones with hosts={{'names': {failed!r}}}."
            )
