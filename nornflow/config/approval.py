"""Approving a plan: the input a person gives in the Prefect UI, and what it decides.

The flow pauses with :func:`prefect.flow_runs.pause_flow_run` waiting for a
:class:`PlanApproval`; the UI shows its fields (pre-filled with the plan's hash) and the
plan artifact. An approval counts only for the hash it names: approving another plan's
hash is refused, so a person never approves a diff they did not see.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from prefect.input import RunInput
from pydantic import BaseModel, Field

from nornflow.secrets.redaction import redact_text


class PlanApproval(RunInput):
    """What the approver answers in the UI."""

    approve: bool = Field(default=False, description="true applies the plan, false rejects it")
    plan_hash: str = Field(default="", description="the hash at the top of the plan artifact; must match")
    comment: str = Field(default="", description="why: a ticket, a change window, a reason to reject")
    approver: str = Field(default="", description=(
        "who decides; in team mode the NornFlow gateway replaces it with the logged-in approver"))


class Decision(BaseModel):
    """The recorded outcome of an approval step."""

    verdict: Literal["approved", "rejected", "refused", "timed-out"]
    plan_hash: str
    approver: str = ""
    comment: str = ""
    decided_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    reason: str = ""

    @property
    def approved(self) -> bool:
        return self.verdict == "approved"

    def markdown(self) -> str:
        # Words, not emoji: a UI without an emoji font draws those as empty boxes.
        verdict = self.verdict if self.approved else f"**{self.verdict.upper()}**"
        lines = [
            f"## Plan `{self.plan_hash}` {verdict}", "",
            "| plan hash | verdict | by | at (UTC) | comment |", "|---|---|---|---|---|",
            f"| `{self.plan_hash}` | {self.verdict} | {self.approver or '(not given)'} | {self.decided_at} "
            f"| {self.comment.replace('|', '/')} |",
        ]
        if self.reason:
            lines += ["", self.reason]
        return redact_text("\n".join(lines))


def decide(answer: PlanApproval | None, plan_hash: str) -> Decision:
    """Turn the approver's answer into a decision; a different hash is refused, never applied."""
    if answer is None:
        return Decision(verdict="timed-out", plan_hash=plan_hash, reason="nobody answered before the timeout")
    who = answer.approver.strip()
    given = answer.plan_hash.strip()
    if given != plan_hash:
        return Decision(
            verdict="refused", plan_hash=plan_hash, approver=who, comment=answer.comment,
            reason=f"the answer names plan {given or '(no hash)'!r}, but this run's plan is {plan_hash!r}: "
                   f"nothing was applied; review the plan artifact of this run and answer with its hash",
        )
    if not answer.approve:
        return Decision(verdict="rejected", plan_hash=plan_hash, approver=who, comment=answer.comment,
                        reason="rejected by the approver: nothing was applied")
    return Decision(verdict="approved", plan_hash=plan_hash, approver=who, comment=answer.comment)


def auto_approval(plan_hash: str) -> Decision:
    return Decision(verdict="approved", plan_hash=plan_hash, approver="auto_approve=True",
                    comment="approved by the flow's auto_approve parameter (lab and tests only)")
