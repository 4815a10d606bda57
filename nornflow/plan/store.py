"""Where a plan's full outcome lives: Prefect's result storage, named by a ``result:KEY`` reference.

Every host's record and data would make the Prefect database grow with the fleet if it
went into flow-run parameters or artifacts. Instead the run writes the whole
:class:`~nornflow.plan.outcome.PlanOutcome` (as JSON) to Prefect's default result
storage, the same place Prefect persists results: the block named by
``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` or the server's default result storage, else
``PREFECT_LOCAL_STORAGE_PATH`` on this machine. Parameters, artifacts and events carry
only the reference. With several machines (workers on one, ``nornflow plan run --rerun``
on another) configure a shared storage block, or pass the outcome JSON file instead.
:func:`load_outcome` reads an outcome back from any of its three homes: a JSON file, a
``result:KEY`` reference, or a run's ``plan-NAME-outcome`` artifact (which names its record).
"""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import Artifact
from prefect.client.schemas.objects import Artifact as ArtifactResponse
from prefect.results import ResultStore
from prefect.serializers import JSONSerializer

from nornflow.exceptions import PlanError
from nornflow.plan.outcome import PlanOutcome

REF_PREFIX = "result:"
KEY_FOLDER = "nornflow-plan-outcomes"


def _store() -> ResultStore:
    # A fresh store, not the run's: the default storage, readable later outside this run.
    return ResultStore(serializer=JSONSerializer(), cache_result_in_memory=False)


def outcome_key(outcome: PlanOutcome) -> str:
    """One key per plan run: rewritten as the run goes on, whole at the end."""
    run = outcome.flow_run_id or "no-run"
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in outcome.plan.name.lower()) or "plan"
    return f"{KEY_FOLDER}/{name}/{run}.json"


def is_ref(source: str) -> bool:
    return source.startswith(REF_PREFIX)


def save_outcome(outcome: PlanOutcome) -> str:
    """Write the whole outcome (data included) to result storage; return its ``result:KEY`` reference."""
    ref = REF_PREFIX + outcome_key(outcome)
    outcome.outcome_ref = ref
    _store().write(outcome.to_json(), key=ref.removeprefix(REF_PREFIX))
    return ref


def read_outcome(ref: str) -> PlanOutcome:
    """The outcome a ``result:KEY`` reference names, read back from result storage."""
    key = ref.removeprefix(REF_PREFIX)
    try:
        text = _store().read(key).result
    except Exception as exc:  # storage blocks raise their own errors (missing file, no access...)
        raise PlanError(f"plan outcome {ref} cannot be read from Prefect's result storage ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); run where that storage is reachable (set "
                        f"PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK to a shared block), or pass the outcome JSON "
                        f"file that `nornflow plan run --outcome FILE` wrote") from None
    if isinstance(text, PlanOutcome):
        return text
    return PlanOutcome.from_json(str(text))


def load_outcome(source: str | Path) -> PlanOutcome:
    """A recorded outcome: a JSON file, a ``result:KEY`` reference, or the latest artifact with that key.

    An artifact lists a capped number of hosts per step; the full outcome it names is read
    instead, and the artifact's own copy serves only when nothing was cut from it.
    """
    path = Path(source)
    if path.exists():
        return PlanOutcome.load(path)
    if is_ref(str(source)):
        return read_outcome(str(source))
    key = str(source).removeprefix("artifact:")
    artifact = Artifact.get(key)
    if not isinstance(artifact, ArtifactResponse) or not isinstance(artifact.data, str):
        raise PlanError(f"no outcome file or artifact named {source!r}; pass the JSON file written by "
                        f"`nornflow plan run --outcome FILE`, a result:KEY reference or an artifact key "
                        f"like plan-NAME-outcome")
    listed = PlanOutcome.from_json(artifact.data)
    if listed.outcome_ref is None:
        return listed
    try:
        return read_outcome(listed.outcome_ref)
    except PlanError:
        if listed.truncated:
            raise
        return listed
