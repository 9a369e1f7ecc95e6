"""The elite's MLflow model: logged as an output of a run, registered, found, promoted.

Functions of an ``MlflowClient`` and a run id (``MlflowTracker``'s methods of the same names
delegate here); ``mlflow`` is imported inside them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from marlpipe.tracking.store import environ


def log_model(
    client: Any,
    run_id: str,
    name: str,
    save: Callable[[Path, Any], None],
    model_type: str | None = None,
) -> tuple[str, str]:
    """Log an MLflow model (a folder with an ``MLmodel`` file) as an output of run ``run_id``.

    ``save(path, mlflow_model)`` writes the model to ``path`` with the given
    ``mlflow.models.Model`` metadata (e.g. ``mlflow.pyfunc.save_model(path, ...,
    mlflow_model=mlflow_model)``). What the fluent ``mlflow.<flavor>.log_model`` does, but
    on this run and store, with no active run or tracking URI set globally.
    Returns the model's URI (``models:/<model_id>``) and its id.
    """
    import tempfile

    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    experiment = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(
        experiment, name=name, source_run_id=run_id, model_type=model_type
    )
    metadata = Model(
        artifact_path=model.artifact_location, model_uuid=model.model_id,
        run_id=run_id, model_id=model.model_id,
    )  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model"
            save(local, metadata)
            client.log_model_artifacts(model.model_id, str(local))
    except BaseException:
        client.finalize_logged_model(model.model_id, "FAILED")
        raise
    client.finalize_logged_model(model.model_id, "READY")
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    return f"models:/{model.model_id}", model.model_id


def register_model(
    client: Any,
    tracking_uri: str,
    run_id: str | None,
    name: str,
    model_uri: str,
    tags: dict[str, Any] | None = None,
    model_id: str | None = None,
) -> int:
    """Register ``model_uri`` (``models:/<model_id>`` from :func:`log_model`) as a new version
    of ``name``, made by run ``run_id`` of the store at ``tracking_uri``; return the version."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # already registered: add a version below
    # Given a models:/ URI, MLflow's registry looks the logged model up through the
    # process-wide tracking URI (MLFLOW_TRACKING_URI, else mlflow.db in the working
    # directory), not this client's: in a queued DVC experiment, which runs in another
    # directory, that is another store and registration failed. Point it at this store
    # for that one call.
    with environ(MLFLOW_TRACKING_URI=tracking_uri):
        version = client.create_model_version(
            name, model_uri, run_id=run_id, tags=tags, model_id=model_id
        )
    return int(version.version)


def find_model_version(client: Any, name: str, tag: str, value: str) -> int | None:
    """The oldest version of registered model ``name`` whose tag ``tag`` is ``value``."""
    found = [
        int(v.version)
        for v in client.search_model_versions(f"name = '{name}'")
        if v.tags.get(tag) == value
    ]
    return min(found, default=None)


def promote(
    client: Any, name: str, version: int, alias: str = "champion", key: str = "score"
) -> bool:
    """Point ``alias`` of ``name`` at ``version`` if nothing has it yet or ``version``'s tag
    ``key`` (a number, higher is better) beats that of the version that has it."""
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        current = None
    score = float(client.get_model_version(name, str(version)).tags[key])
    if current is not None and not score > float(current.tags.get(key, "-inf")):
        return False
    client.set_registered_model_alias(name, alias, str(version))
    return True


__all__ = ["find_model_version", "log_model", "promote", "register_model"]
