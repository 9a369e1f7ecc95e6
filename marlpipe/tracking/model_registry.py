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


def name_filter(name: str) -> str:
    """An MLflow search filter ``name = '<name>'`` for any name MLflow's filters can hold.

    MLflow's filter grammar has no escapes: a value is the text between its quotes. A name with
    a ``'`` is quoted with ``"`` instead; one with both kinds cannot be written (params
    validation refuses it: ``marlpipe.config.rules.check_tracking``)."""
    if "'" not in name:
        return f"name = '{name}'"
    if '"' not in name:
        return f'name = "{name}"'
    raise ValueError(f"registered model name {name!r}: holds both ' and \"; MLflow cannot filter")


def find_model_version(client: Any, name: str, tag: str, value: str) -> int | None:
    """The oldest version of registered model ``name`` whose tag ``tag`` is ``value``."""
    found = [
        int(v.version)
        for v in client.search_model_versions(name_filter(name))
        if v.tags.get(tag) == value
    ]
    return min(found, default=None)


def _score(version: Any, key: str) -> float | None:
    try:
        score = float(version.tags[key])
    except (KeyError, TypeError, ValueError):
        return None
    return None if score != score else score  # NaN is not a score


def _holder(client: Any, name: str, alias: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _best(client: Any, name: str, key: str) -> Any:
    """The eligible version (numeric tag ``key``) with the highest score, oldest on ties."""
    scored = [(s, -int(v.version), v) for v in client.search_model_versions(name_filter(name))
              if (s := _score(v, key)) is not None]  # fmt: skip
    return max(scored, key=lambda item: item[:2])[2] if scored else None


def promote(
    client: Any, name: str, version: int, alias: str = "champion", key: str = "score",
    rounds: int = 10,
) -> bool:  # fmt: skip
    """Point ``alias`` of ``name`` at ``version`` if nothing has it yet or ``version``'s tag
    ``key`` (a number, higher is better) beats that of the version that has it; ``True`` if
    ``alias`` is on ``version`` afterwards.

    Safe when several evaluations promote at once. In a local SQLite store the read and the move
    hold the store's file lock (``local_store.store_lock``). In any store a move converges:
    after setting the alias, the versions are read again and the alias is put on the
    best-scoring eligible one (a numeric ``key`` tag; the oldest on ties) until a read shows it
    there, so concurrent writers end on the highest score, never on a lower one written last.
    """
    from marlpipe.tracking.local_store import store_lock

    with store_lock(getattr(client, "tracking_uri", "") or ""):
        current = _holder(client, name, alias)
        score = _score(client.get_model_version(name, str(version)), key)
        if score is None:
            raise ValueError(f"{name} version {version}: tag {key!r} is not a number")
        held = None if current is None else _score(current, key)
        if current is not None and not score > (float("-inf") if held is None else held):
            return str(current.version) == str(version)
        client.set_registered_model_alias(name, alias, str(version))
        for _ in range(rounds):
            best, current = _best(client, name, key), _holder(client, name, alias)
            if best is None or (current is not None and current.version == best.version):
                break
            client.set_registered_model_alias(name, alias, str(best.version))
        return str(getattr(_holder(client, name, alias), "version", "")) == str(version)


__all__ = ["find_model_version", "log_model", "name_filter", "promote", "register_model"]
