"""The MLflow store a tracker writes to: where it is, its client, its experiments, batched logging.

``mlflow`` is imported inside the functions: importing it costs about a second and a half.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_BATCH = 100  # MLflow accepts at most 100 params (and 1000 metrics) per log_batch call


def store_root(root: str | os.PathLike = ".") -> Path:
    """The folder of the local store (``mlflow.db``, ``mlartifacts/``): DVC's repository root
    (``$DVC_ROOT``) when a stage runs under DVC, else ``root``. ``dvc exp run --temp`` and queued
    experiments run their stages in a temporary copy of the repo that is deleted afterwards;
    their runs belong in the repo's store, next to the others."""
    return Path(os.environ.get("DVC_ROOT") or root).resolve()


def default_tracking_uri(root: str | os.PathLike = ".") -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<store root>/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root(root)}/mlflow.db"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (lists and ``None`` as JSON), for MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def client(tracking_uri: str):
    """An ``MlflowClient`` of ``tracking_uri``; a local SQLite store is created (or its creation
    finished) first, once, under its file lock (:func:`~.local_store.prepare_sqlite_store`)."""
    from marlpipe.errors import require
    from marlpipe.tracking.local_store import prepare_sqlite_store

    tracking = require("mlflow.tracking", "MLflow tracking (tracking.enabled: true)")
    prepare_sqlite_store(tracking_uri)
    return tracking.MlflowClient(tracking_uri=tracking_uri)


EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""Says the experiment holds training runs. MLflow 3.17's own UI does not read it to pick its
mode (only the address's ``workflowType`` or the browser's stored choice do; see the README)."""


def experiment_id(client: Any, name: str, root: str | os.PathLike = ".") -> str:
    """Id of experiment ``name``, created on first use (artefacts under ``<root>/mlartifacts``)
    and marked as model development unless it already says what kind it is. In the repo's own
    store (``<store root>/mlflow.db``) an experiment whose artefacts live outside the repo (a
    copied or moved repo) stops here with one line (:func:`~.local_store.check_artifact_location`)
    rather than writing into the other folder."""
    from marlpipe.tracking.local_store import check_artifact_location, is_repo_store

    found = client.get_experiment_by_name(name)
    if found is not None:
        if is_repo_store(client.tracking_uri, store_root(root)):
            check_artifact_location(found.artifact_location, store_root(root), name)
        if EXPERIMENT_KIND[0] not in found.tags:
            client.set_experiment_tag(found.experiment_id, *EXPERIMENT_KIND)
        return found.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        # Without a server MLflow would put artefacts under the *current* directory; pin them.
        location = (store_root(root) / "mlartifacts" / name).as_uri()
    return client.create_experiment(name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))


def log_batch(
    client: Any,
    run_id: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    step: int = 0,
) -> None:
    """Log metrics, params and tags of one run in as few requests as MLflow allows."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metric_list = [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
    param_list = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for chunk in _chunks(param_list):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(metric_list):
        client.log_batch(run_id, metrics=chunk)
    if tag_list:
        client.log_batch(run_id, tags=tag_list)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    return (items[i : i + _BATCH] for i in range(0, len(items), _BATCH))


def terminate(client: Any, run_id: str, status: str = "FINISHED") -> None:
    """Set the end status of run ``run_id``. ``FAILED`` and ``KILLED`` are best-effort: the
    run is stopping on an error already, maybe the store's (a server that went away), so the
    request is made once, without MLflow's minutes of retries, and a failure is logged, not
    raised: the error that stopped the run is the one reported. A run left ``RUNNING`` so is
    still resumed (``MlflowTracker.start``) or marked abandoned later."""
    if status == "FINISHED":
        client.set_terminated(run_id, status=status)
        return
    try:
        with environ(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10"):
            client.set_terminated(run_id, status=status)
    except Exception as err:  # MlflowException, or the store's own (e.g. SQLAlchemy's)
        reason = " ".join(str(err).split())[:200]
        log.warning("MLflow run %s could not be marked %s (%s)", run_id, status, reason)


def run_exists(client: Any, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except Exception:  # MlflowException for a run that belongs to another store
        return False


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block; put back what was there (or nothing)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


__all__ = [
    "EXPERIMENT_KIND",
    "client",
    "default_tracking_uri",
    "environ",
    "experiment_id",
    "flatten",
    "log_batch",
    "run_exists",
    "store_root",
    "terminate",
]
