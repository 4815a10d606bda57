"""Triggers beyond Prefect's own: cron with seconds, runs that start on their second, file drops.

One concern per module, in the order a schedule goes through them: :mod:`.quartz` reads a
Quartz-style cron (seconds first, ``L``, ``W``, ``#``, ``?``, a year) and translates it into the
schedule Prefect will execute; :mod:`.schedules` asks Prefect's own parser for that schedule's
fire times and decides what a deployment file's ``cron:`` means; :mod:`.ontime` starts a flow
run at its scheduled second, never before; :mod:`.watch` is ``nornflow watch DIR``, a Prefect
event per created, changed or removed file.

Nothing is imported here, so ``python -m nornflow.triggers.ontime`` loads only what it needs.
"""
