"""The flow the trigger tests deploy: it only says what started it."""

from __future__ import annotations

from prefect import flow


@flow(name="trigger-stamp", log_prints=True)
def stamp(path: str = "") -> dict[str, str]:
    print(f"started for {path or 'the schedule'}")
    return {"path": path}
