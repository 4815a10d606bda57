"""A deployment plan: per device, the lines to send, the diff, and what the device looked like.

The plan's hash covers every device's lines, its running-config fingerprint and its
intended-config fingerprint, so an approval of one hash is an approval of exactly those
changes against exactly that state; anything else is a different plan.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, Field

from nornflow.secrets.redaction import redact_text

MAX_PLAN_CHARS = 200_000


class DevicePlan(BaseModel):
    """What the plan would do to one device."""

    host: str
    platform: str | None = None
    lines: list[str] = Field(default_factory=list, description="remediation, children indented")
    diff: str = ""
    running_hash: str = Field(description="fingerprint of the running config the plan was made from")
    intended_hash: str
    intended: str = Field(description="the rendered intended configuration, for verification")

    @property
    def empty(self) -> bool:
        return not self.lines


class ConfigPlan(BaseModel):
    """Every device's plan and the hash an approver names."""

    devices: list[DevicePlan]
    sections: list[str] | None = None

    @property
    def hash(self) -> str:
        material = [
            {"host": d.host, "lines": d.lines, "running": d.running_hash, "intended": d.intended_hash}
            for d in sorted(self.devices, key=lambda d: d.host)
        ]
        body = json.dumps({"devices": material, "sections": self.sections}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def changing(self) -> list[DevicePlan]:
        return [d for d in self.devices if not d.empty]

    @property
    def empty(self) -> bool:
        return not self.changing

    def __getitem__(self, host: str) -> DevicePlan:
        for device in self.devices:
            if device.host == host:
                return device
        raise KeyError(f"host {host!r} is not in the plan")

    def markdown(self, title: str, failed: dict[str, str] | None = None) -> str:
        """The plan as a viewer reads it: the hash to approve, then each device's diff and lines."""
        changing = self.changing
        lines = [f"## {title}", "", f"**Plan hash:** `{self.hash}`", ""]
        scope = ", ".join(f"`{s}`" for s in self.sections) if self.sections else "the whole configuration"
        lines.append(f"Scope: {scope}. {len(changing)} of {len(self.devices)} device(s) would change.")
        if failed:
            lines += ["", "### Devices that could not be planned", ""]
            lines += [f"- **{host}**: {error}" for host, error in sorted(failed.items())]
        if not changing:
            lines += ["", "Nothing to change: every planned device already matches its intended config."]
            return redact_text("\n".join(lines))
        unchanged = [d.host for d in self.devices if d.empty]
        if unchanged:
            lines += ["", f"Already compliant: {', '.join(unchanged)}."]
        size = 0
        for device in changing:
            block = (f"\n### {device.host} ({device.platform}): {len(device.lines)} line(s)\n\n"
                     f"```diff\n{device.diff.rstrip()}\n```\n\nLines to send:\n\n```\n"
                     + "\n".join(device.lines) + "\n```\n")
            size += len(block)
            if size > MAX_PLAN_CHARS:
                lines.append(f"\n… the plans of {len(changing)} devices exceed the artifact size.")
                break
            lines.append(block)
        lines += ["", f"To approve, resume the run with `approve: true` and `plan_hash: {self.hash}`."]
        return redact_text("\n".join(lines))
