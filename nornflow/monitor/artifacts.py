"""What a viewer sees in the Prefect UI: a per-host table, a short summary, diffs.

Artifacts are keyed (``<flow>-hosts``, ``<flow>-summary``, ``<flow>-diff``) so the UI
shows each one's history across runs. Everything passes through redaction first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from nornflow.config.backups import Change
from nornflow.engine.records import RunResult
from nornflow.secrets.redaction import redact, redact_text

MAX_DIFF_CHARS = 200_000


def artifact_key(text: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "nornflow"


def host_rows(result: RunResult) -> list[dict[str, object]]:
    return [
        {
            "host": r.host, "platform": r.platform or "", "site": r.site or "", "role": r.role or "",
            "status": r.status, "changed": "yes" if r.changed else "", "duration_s": round(r.duration, 2),
            "attempts": r.attempts, "error": r.error or "",
        }
        for r in result.records
    ]


def summary_markdown(result: RunResult, extra: Iterable[str] = ()) -> str:
    failed = [r for r in result.records if r.failed]
    # Words, not emoji marks: without an emoji font (a server's browser, many Linux desktops) they are boxes.
    verdict = ("every host ok" if not failed else
               "**every host failed**" if len(failed) == len(result.records) else f"**{len(failed)} failed**")
    lines = [
        f"## {result.name}: {verdict}",
        "",
        "| hosts | ok | failed | changed | batches | duration |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {len(result.records)} | {len(result.ok_hosts)} | {len(failed)} | {len(result.changed_hosts)} "
        f"| {result.batches} | {result.duration:.1f} s |",
        "",
        *extra,
    ]
    if failed:
        lines += ["", "### Failed hosts", ""]
        lines += [f"- **{r.host}** ({r.platform}, {r.site}): {r.error}" for r in failed]
        names = ", ".join(repr(r.host) for r in failed)
        lines += ["", f"Rerun only these with `hosts={{'names': [{names}]}}`."]
    return "\n".join(lines)


def publish_run(result: RunResult, flow_name: str, extra: Iterable[str] = ()) -> None:
    """Publish the per-host table and the summary of one engine run."""
    key = artifact_key(flow_name)
    create_table_artifact(
        key=f"{key}-hosts", table=redact(host_rows(result)),
        description=redact_text(f"Per-host results of {result.name}"),
    )
    create_markdown_artifact(
        key=f"{key}-summary", markdown=redact_text(summary_markdown(result, extra)),
        description=redact_text(result.summary()),
    )


def diff_markdown(changes: list[Change], title: str) -> str:
    """The backup diff artifact: one section per new or changed device."""
    diffs = {f"{c.host} ({c.status})": c.diff for c in changes if c.status != "unchanged"}
    return diffs_markdown(diffs, title, "No configuration changed since the last backup.")


def publish_diffs(changes: list[Change], flow_name: str, title: str) -> None:
    create_markdown_artifact(
        key=f"{artifact_key(flow_name)}-diff", markdown=redact_text(diff_markdown(changes, title)),
        description=f"{sum(c.status != 'unchanged' for c in changes)} changed configuration(s)",
    )


def publish_markdown(flow_name: str, suffix: str, markdown: str, description: str = "") -> None:
    """A keyed markdown artifact ``<flow>-<suffix>`` (plans, approvals, compliance diffs), redacted."""
    create_markdown_artifact(
        key=f"{artifact_key(flow_name)}-{artifact_key(suffix)}", markdown=redact_text(markdown),
        description=redact_text(description) or None,
    )


def publish_table(flow_name: str, suffix: str, rows: list[dict[str, object]], description: str = "") -> None:
    """A keyed table artifact ``<flow>-<suffix>``, redacted."""
    create_table_artifact(
        key=f"{artifact_key(flow_name)}-{artifact_key(suffix)}", table=redact(rows),
        description=redact_text(description) or None,
    )


def diffs_markdown(diffs: dict[str, str], title: str, empty: str) -> str:
    """One section per host with its unified diff; ``empty`` when there is none."""
    lines = [f"## {title}", ""]
    if not diffs:
        return "\n".join([*lines, empty])
    lines.append(f"{len(diffs)} device(s).")
    size = 0
    for host, diff in diffs.items():
        block = f"\n### {host}\n\n```diff\n{diff.rstrip()}\n```\n"
        size += len(block)
        if size > MAX_DIFF_CHARS:
            lines.append(f"\n… diffs of {len(diffs)} devices exceed the artifact size.")
            break
        lines.append(block)
    return "\n".join(lines)
