"""The suite's Nautobot settings (tests/servers/nautobot/nautobot_config.py) plus what sending webhooks needs.

Two differences, both about the test machine rather than about what Nautobot sends:

- ``CELERY_TASK_ALWAYS_EAGER``: the suite's Nautobot has no Celery worker (an in-memory broker), so
  ``process_webhook`` runs in the request that changed the device, the way a worker would run it a
  moment later;
- Nautobot refuses webhook targets on loopback, without a setting to allow them (its SSRF guard in
  ``nautobot.extras.webhooks``), and every server of the suite listens on 127.0.0.1. Its two URL
  checks are wrapped, on the first request, to let exactly ``127.0.0.1`` through and keep every other
  check. The body, its template, the ``X-Hook-Signature`` HMAC, the headers and the HTTP request
  itself are Nautobot's own code.

Nautobot loads this file as the module ``nautobot_config`` (``nautobot.core.cli.load_settings``).
"""

from pathlib import Path
from urllib.parse import urlsplit

from django.core.signals import request_started

_BASE = Path(__file__).resolve().parents[2] / "servers" / "nautobot" / "nautobot_config.py"
exec(compile(_BASE.read_text(encoding="utf-8"), str(_BASE), "exec"))  # our own settings file, as Nautobot loads it

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
LOOPBACK_TARGET = "127.0.0.1"


def _allow_loopback_target(**kwargs: object) -> None:
    from nautobot.extras import webhooks

    if getattr(webhooks, "_nornflow_loopback", False):
        return
    checked, checked_format = webhooks.validate_webhook_url, webhooks.validate_webhook_url_format

    def validate(url: str) -> str:
        return LOOPBACK_TARGET if urlsplit(url).hostname == LOOPBACK_TARGET else checked(url)

    def validate_format(url: str) -> None:
        if urlsplit(url).hostname != LOOPBACK_TARGET:
            checked_format(url)

    webhooks.validate_webhook_url = validate
    webhooks.validate_webhook_url_format = validate_format
    webhooks._nornflow_loopback = True


request_started.connect(_allow_loopback_target, dispatch_uid="nornflow-allow-loopback-webhooks")
