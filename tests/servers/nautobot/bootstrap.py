"""Run inside Nautobot's own venv: create the schema, the default statuses/roles, and an API user.

``python bootstrap.py <config> <mode> <username> <token-file>`` where ``mode`` is ``syncdb``
(tables straight from the models, about 10 s; the default) or ``migrate`` (Nautobot's 400+
migrations, about 4 minutes on 2 busy cores). Either way the data Nautobot's data migrations
would add and the tests need (default statuses and roles) is created here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(config: str, mode: str, username: str, token_file: str) -> None:
    import nautobot

    nautobot.setup(config_path=config)
    from django.core.management import call_command
    from nautobot.extras.management import populate_role_choices, populate_status_choices
    from nautobot.users.models import Token, User

    started = time.monotonic()
    if mode == "migrate":
        call_command("migrate", interactive=False, verbosity=0)
    else:
        call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
    schema = time.monotonic() - started
    populate_status_choices(verbosity=0)
    populate_role_choices(verbosity=0)
    user = User.objects.create_superuser(username, f"{username}@example.invalid", None)
    key = Path(token_file).read_text(encoding="utf-8").strip()
    Token.objects.create(user=user, key=key)
    print(f"schema {schema:.1f} s, data {time.monotonic() - started - schema:.1f} s", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
