"""One incoming webhook, as declared under a workspace in the gateway's settings.

```yaml
workspaces:
  - name: core
    hooks:
      - name: nautobot
        style: nautobot                       # github | gitlab | nautobot | bearer
        secret: secret:secret/nautobot-hook   # a reference, never the value
        template: '{"event": "nautobot.device.{{ body.event }}", ...}'
```

The secret is always a reference (``secret:<block-type>/<block>...``) resolved through
:mod:`nornflow.secrets` when a request arrives (kept five minutes, read again at once when a
signature does not match: see :mod:`.receiver`); a value written inline is refused at start. The template is
compiled here, so a typo stops the gateway with the hook's name instead of failing the first
delivery.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Style = Literal["github", "gitlab", "nautobot", "bearer"]
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")
#: The header each style's sender puts its delivery id in (not signed: the body's digest is kept too).
DELIVERY_HEADERS: dict[str, str | None] = {
    "github": "x-github-delivery", "gitlab": "x-gitlab-event-uuid", "nautobot": None, "bearer": None,
}


class HookSettings(BaseModel):
    """An endpoint ``/w/<workspace>/hooks/<name>``: who may call it, and the event it becomes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="URL segment: 1-64 lowercase letters, digits, '-' or '_'.")
    style: Style = Field(description=(
        "How the sender proves itself: github (X-Hub-Signature-256, HMAC-SHA256 of the body), gitlab "
        "(X-Gitlab-Token), nautobot (X-Hook-Signature, HMAC-SHA512 of the body) or bearer "
        "(Authorization: Bearer <secret>)."))
    secret: SecretStr = Field(description="A secret reference (secret:<block-type>/<block>[:path][#key]).")
    template: str = Field(description=(
        "Jinja (sandboxed) rendering a JSON object with event, resource and optionally related and payload; "
        "it sees body (the parsed JSON), headers (lower-case names, credentials removed), method and hook."))
    rate_per_minute: float = Field(default=60, gt=0, description="Accepted deliveries per minute, sustained.")
    burst: int = Field(default=20, ge=1, description="Accepted deliveries at once before the rate applies.")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, le=25 * 1024 * 1024,
                                description="Larger bodies get 413 (GitHub caps its own at 25 MB).")
    replay_window_seconds: int = Field(default=7 * 86400, ge=60, description=(
        "A body (or delivery id) seen within this window is a replay and is refused."))
    max_age_seconds: int = Field(default=300, ge=5, description=(
        "For senders that sign a timestamp (nautobot: the body's `timestamp`): older or later than this is refused."))
    delivery_header: str | None = Field(default=None, description=(
        "Header holding the sender's delivery id; default per style (X-GitHub-Delivery, X-Gitlab-Event-UUID)."))

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(f"hook name {value!r} is invalid: use 1-64 lowercase letters, digits, '-' or '_' "
                             "(it becomes the URL segment /w/<workspace>/hooks/<name>)")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        from nornflow.secrets.reference import is_reference, parse_chain

        raw = value.get_secret_value()
        if not is_reference(raw):
            raise ValueError("the hook's secret must be a secret reference such as secret:secret/github-hook "
                             "(a Prefect Secret block) or secret:<vault-block>/<path>#<key>, not the value itself: "
                             "store the value in a secrets backend and name it here")
        try:
            parse_chain(raw)
        except Exception as exc:  # SecretReferenceError: its message shows the syntax, never a value
            raise ValueError(str(exc)) from None
        return value

    @field_validator("delivery_header")
    @classmethod
    def _check_header(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER.fullmatch(value):
            raise ValueError(f"delivery_header {value!r} is not a header name (letters, digits and '-')")
        return value.lower() if value else None

    @model_validator(mode="after")
    def _compile_template(self) -> HookSettings:
        from nornflow.gateway.hooks.mapping import compile_template

        compile_template(self.template, self.name)  # raises ValueError naming the hook and the line
        return self

    @property
    def delivery(self) -> str | None:
        """The header whose value is this hook's delivery id, or None when the style has none."""
        return self.delivery_header or DELIVERY_HEADERS[self.style]
